// A small library of TorchScript operators, built by setup with the addon's toolchain and its
// libtorch (CMakeLists.txt, cmake-js builds of a checkout), for loadLibrary()'s tests: PyTorch
// loads the same library (torch.ops.load_library) to script the model that calls it
// (scripts/make_corpus.py --ops-lib).
#include <ATen/ATen.h>
#include <torch/library.h>

namespace {
at::Tensor scaleAdd(const at::Tensor& x, double a, const at::Tensor& b) { return x * a + b; }
}  // namespace

TORCH_LIBRARY(my_ops, m) { m.def("scale_add(Tensor x, float a, Tensor b) -> Tensor", scaleAdd); }
