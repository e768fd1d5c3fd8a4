// The CUDA graph executor: a step on the GPU as one CUDA graph. The runner's input and output
// tensors live in pinned host memory (so copies are asynchronous DMA); the graph holds the
// copies in, the method's kernels and the copies out, captured on a high-priority stream of
// the executor's own. A step replays the graph and waits for that stream: one launch, one
// synchronisation, no allocation (the graph keeps its memory pool).
// Built only against a CUDA libtorch (TORCHLOOP_CUDA, set by CMakeLists.txt).
#include "executor.h"

#include <stdexcept>

#ifdef TORCHLOOP_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace torchloop {

#ifdef TORCHLOOP_CUDA
namespace {

class CudaGraph final : public Executor {
 public:
  explicit CudaGraph(const Binding& b)
      : stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/true, b.model.device().index())),
        method_(b.model.module().get_method(b.method)),
        inputs_(b.inputs),
        outputs_(b.outputs) {
    for (const auto& t : inputs_) {
      if (!t.is_pinned()) throw std::runtime_error("the step's inputs are not in pinned memory");
      deviceInputs_.push_back(at::empty_like(t, at::TensorOptions().device(b.model.device()).pinned_memory(false)));
    }
    c10::cuda::CUDAStreamGuard guard(stream_);
    // Warm up on the capture stream: the profiling executor settles on its graph, and cuBLAS
    // and cuDNN create their handles and workspaces, none of which may happen during capture.
    for (int i = 0; i < 5; ++i) once();
    stream_.synchronize();
    graph_.capture_begin();
    try {
      once();
    } catch (...) {
      try {
        graph_.capture_end();
      } catch (...) {
      }
      throw;
    }
    graph_.capture_end();
    graph_.replay();
    stream_.synchronize();
  }

  void run() override {
    // replay() launches on the current stream: make that the graph's own, which is the one
    // waited for (launched on the default stream, the step returned before the copies out
    // were done, and read the previous step's outputs: seen on an H200).
    c10::cuda::CUDAStreamGuard guard(stream_);
    graph_.replay();
    stream_.synchronize();
  }

  std::string describe() const override { return "cuda graph (pinned inputs and outputs, one stream)"; }

 private:
  void once() {
    std::vector<c10::IValue> args;
    for (size_t i = 0; i < inputs_.size(); ++i) {
      deviceInputs_[i].copy_(inputs_[i], /*non_blocking=*/true);
      args.emplace_back(deviceInputs_[i]);
    }
    c10::IValue result = method_(std::move(args));
    std::vector<at::Tensor> results;
    flattenTensors(result, results);
    if (results.size() < outputs_.size()) throw std::runtime_error("the method returned fewer tensors than the step has outputs");
    for (size_t i = 0; i < outputs_.size(); ++i) outputs_[i].copy_(results[i].reshape(outputs_[i].sizes()), /*non_blocking=*/true);
  }

  c10::cuda::CUDAStream stream_;
  torch::jit::Method method_;
  std::vector<at::Tensor> inputs_, outputs_, deviceInputs_;
  at::cuda::CUDAGraph graph_;
};

}  // namespace

std::unique_ptr<Executor> makeCudaGraph(const Binding& b) {
  if (!b.model.device().is_cuda()) throw std::runtime_error("the model is not on a CUDA device");
  return std::make_unique<CudaGraph>(b);
}
#else
std::unique_ptr<Executor> makeCudaGraph(const Binding&) {
  throw std::runtime_error("this build has no CUDA");
}
#endif

}  // namespace torchloop
