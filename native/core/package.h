// Package: one loaded AOTInductor package (.pt2), PyTorch 2's deployment format
// (torch.export, then torch._inductor.aoti_compile_and_package): generated C++ kernels in a
// shared library, with the weights. The second kind of module behind ModelCore beside
// TorchScript (model.cc); it has one method, forward, whose arguments are tensors.
//
// A package is native code that runs in the process. Loading it:
//  - reads the file into memory and checks it (readPackage: the zip structure, an
//    archive_format of "pt2", no record named outside the package's folder);
//  - reads the package's metadata and refuses a package built for another machine, platform
//    or device, or for instructions this CPU lacks (AOTI_CPU_ISA: packages are compiled with
//    -march=native), naming what is missing, before any of its code is loaded;
//  - hands libtorch's AOTIModelPackageLoader a private copy of the checked bytes (never the
//    user's path again, which could have changed in between).
// On libtorch 1.13 (no AOTInductor) every entry point is Error(Unsupported) saying so.
#pragma once
#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace torchloop {

struct PackageTensor {
  std::string name;
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::kFloat;
};

class Package {
 public:
  // Whether `raw` is a zip with an archive_format record (a PT2 package rather than a
  // TorchScript archive); cheap, no validation.
  static bool looksLikePackage(const std::string& raw);
  // Whether this build can load packages; otherwise `why` says why not.
  static bool supported(std::string* why = nullptr);
  // Loads a package from its bytes; `origin` names it in messages. Error(ModelLoad) with what
  // is wrong and what to do, Error(Device) for a package of another device.
  static std::unique_ptr<Package> load(const std::string& raw, const std::string& origin, const c10::Device& device);
  ~Package();

  // The inputs (torchloop compile records names, shapes and dtypes; for other packages the
  // count from the call spec, named input0..., with no shape: `shapesKnown()` is false).
  const std::vector<PackageTensor>& inputs() const { return inputs_; }
  bool shapesKnown() const { return shapesKnown_; }
  // The result is a single tensor, or a tuple of `outputCount()` tensors.
  bool tupleResult() const { return tupleResult_; }
  size_t outputCount() const { return outputCount_; }
  const std::unordered_map<std::string, std::string>& metadata() const { return metadata_; }

  // Checks the inputs against the recorded ones (Error(Shape) / Error(Dtype)), then runs.
  // Not thread-safe: ModelCore serialises calls.
  std::vector<at::Tensor> run(const std::vector<at::Tensor>& inputs);
  // The same without the checks, for a step whose tensors were checked once.
  std::vector<at::Tensor> runUnchecked(const std::vector<at::Tensor>& inputs);
  void check(const std::vector<at::Tensor>& inputs) const;

  // A package whose forward writes into its own buffers (a recurrent policy's hidden state;
  // torchloop compile records their names): saveState() copies them, restoreState() puts the
  // copy back, as for a stateful TorchScript module.
  bool stateful() const;
  void saveState();
  void restoreState();

  // The instruction sets a recorded AOTI_CPU_ISA ("AVX512 AVX512_VNNI") needs that this CPU
  // lacks, e.g. "AMX_TILE"; empty when it has them all. Exposed for tests.
  static std::vector<std::string> missingInstructions(const std::string& isa);

 private:
  Package() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<PackageTensor> inputs_;
  bool shapesKnown_ = false;
  bool tupleResult_ = false;
  size_t outputCount_ = 1;
  std::unordered_map<std::string, std::string> metadata_;
};

}  // namespace torchloop
