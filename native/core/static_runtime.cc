// The Static Runtime executor: PyTorch's own executor for inference
// (torch/csrc/jit/runtime/static), over the frozen forward graph: out-variant kernels where
// an op has one, a memory planner that reuses intermediate storage from run to run, and the
// op's ordinary kernel for every other node. Covers what the hand-written plan does not
// (convolutions, slicing, LSTMs, tuple and dict arguments). libtorch 2.x builds only: Debian's
// 1.13 ships no headers for it.
#include "executor.h"

#if __has_include(<torch/csrc/jit/runtime/static/impl.h>)
#include <torch/csrc/jit/runtime/static/impl.h>

namespace torchloop {

namespace {

class StaticRuntimeExecutor final : public Executor {
 public:
  explicit StaticRuntimeExecutor(const Binding& b)
      : inputs_(b.inputs), outputs_(b.outputs), pushArguments_(b.plainTensors ? nullptr : b.pushArguments) {
    if (b.method != "forward") throw std::runtime_error("Static Runtime runs forward() only");
    if (b.model.training()) throw std::runtime_error("the model is in training mode");
    torch::jit::StaticModuleOptions options;
    options.enable_out_variant = true;
    options.optimize_memory = true;
    pushArgs();
    module_ = std::make_unique<torch::jit::StaticModule>(b.model.module(), /*is_frozen=*/false, options, args_);
    runtime_ = &module_->runtime();
    nodes_ = module_->num_nodes();
  }

  void run() override {
    pushArgs();
    c10::IValue result = (*runtime_)(args_);
    results_.clear();
    flattenTensors(result, results_);
    if (results_.size() != outputs_.size()) throw std::runtime_error("output count differs from the interpreter's");
    for (size_t i = 0; i < outputs_.size(); ++i) copyInto(outputs_[i], results_[i]);
  }

  std::string describe() const override {
    return "static runtime (" + std::to_string(nodes_) + " nodes)";
  }

 private:
  void pushArgs() {
    args_.clear();
    if (pushArguments_) pushArguments_(args_);
    else for (const auto& t : inputs_) args_.emplace_back(t);
  }

  std::vector<at::Tensor> inputs_, outputs_;
  std::function<void(torch::jit::Stack&)> pushArguments_;
  std::unique_ptr<torch::jit::StaticModule> module_;
  torch::jit::StaticRuntime* runtime_ = nullptr;
  std::vector<c10::IValue> args_;
  std::vector<at::Tensor> results_;
  size_t nodes_ = 0;
};

}  // namespace

std::unique_ptr<Executor> makeStaticRuntime(const Binding& b) {
  if (!b.model.device().is_cpu()) throw std::runtime_error("torchloop runs Static Runtime on the CPU only");
  return std::make_unique<StaticRuntimeExecutor>(b);
}

}  // namespace torchloop

#else

namespace torchloop {
std::unique_ptr<Executor> makeStaticRuntime(const Binding&) {
  throw std::runtime_error("not in this libtorch (its headers are not installed)");
}
}  // namespace torchloop

#endif
