// The executor of an AOTInductor package: the package's compiled forward over the runner's
// input tensors (checked against the package's recorded shapes once, when the step was
// bound), its results copied into the runner's output tensors. AOTInductor allocates its
// results inside libtorch's allocator on each call; nothing reaches JavaScript.
#include "executor.h"
#include "package.h"

namespace torchloop {

namespace {

class PackageRunner final : public Executor {
 public:
  explicit PackageRunner(const Binding& b) : package_(*b.model.package()), outputs_(b.outputs) {
    for (const auto& t : b.inputs) {
      // On a GPU the runner's tensors are pinned host memory; the package reads device memory.
      if (b.model.device().is_cpu()) {
        inputs_.push_back(t);
      } else {
        hostInputs_.push_back(t);
        inputs_.push_back(at::empty_like(t, at::TensorOptions().device(b.model.device()).pinned_memory(false)));
      }
    }
  }

  void run() override {
    for (size_t i = 0; i < hostInputs_.size(); ++i) inputs_[i].copy_(hostInputs_[i], /*non_blocking=*/true);
    results_ = package_.runUnchecked(inputs_);
    for (size_t i = 0; i < outputs_.size() && i < results_.size(); ++i) copyInto(outputs_[i], results_[i]);
    results_.clear();
  }

  std::string describe() const override { return "aoti package"; }

 private:
  Package& package_;
  std::vector<at::Tensor> inputs_, hostInputs_, outputs_, results_;
};

}  // namespace

std::unique_ptr<Executor> makePackageRunner(const Binding& b) {
  if (!b.model.package()) throw std::runtime_error("not an AOTInductor package");
  return std::make_unique<PackageRunner>(b);
}

}  // namespace torchloop
