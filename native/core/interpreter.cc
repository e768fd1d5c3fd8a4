// The interpreter executor: TorchScript's own interpreter, with a stack reused from run to
// run. Inputs on another device than the model's are copied to tensors kept on that device.
#include <cstring>

#include "errors.h"
#include "executor.h"

namespace torchloop {

void flattenTensors(const c10::IValue& v, std::vector<at::Tensor>& out) {
  if (v.isTensor()) {
    out.push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) flattenTensors(e, out);
  } else if (v.isTensorList()) {
    for (const at::Tensor& t : v.toTensorList().vec()) out.push_back(t);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) flattenTensors(e, out);
  } else {
    throw Error(Code::Argument, "A realtime step needs a method that returns a tensor or a tuple of tensors, but it returned " +
                                    v.tagKind());
  }
}

void copyInto(at::Tensor& dst, const at::Tensor& src) {
  if (src.device().is_cpu() && dst.device().is_cpu() && src.scalar_type() == dst.scalar_type() && src.is_contiguous() &&
      src.numel() == dst.numel()) {
    std::memcpy(dst.data_ptr(), src.data_ptr(), src.nbytes());
  } else {
    dst.copy_(src.reshape(dst.sizes()));
  }
}

namespace {

class Interpreter final : public Executor {
 public:
  explicit Interpreter(const Binding& b)
      : method_(b.model.module().get_method(b.method)), self_(method_.owner()._ivalue()), inputs_(b.inputs), outputs_(b.outputs) {
    if (!b.model.device().is_cpu()) {
      for (const auto& t : inputs_) deviceInputs_.push_back(at::empty_like(t, at::TensorOptions().device(b.model.device()).pinned_memory(false)));
    }
    stack_.reserve(inputs_.size() + 2);
  }

  void run() override {
    stack_.clear();
    stack_.emplace_back(self_);
    if (deviceInputs_.empty()) {
      for (const auto& t : inputs_) stack_.emplace_back(t);
    } else {
      for (size_t i = 0; i < inputs_.size(); ++i) {
        deviceInputs_[i].copy_(inputs_[i], /*non_blocking=*/true);
        stack_.emplace_back(deviceInputs_[i]);
      }
    }
    try {
      method_.function().run(stack_);
    } catch (...) {
      stack_.clear();
      throw;
    }
    const c10::IValue& result = stack_.back();
    if (result.isTensor()) {
      copyInto(outputs_[0], result.toTensor());
    } else if (result.isTuple()) {
      const auto& elems = result.toTupleRef().elements();
      for (size_t i = 0; i < outputs_.size() && i < elems.size(); ++i) copyInto(outputs_[i], elems[i].toTensor());
    } else {
      std::vector<at::Tensor> results;
      flattenTensors(result, results);
      for (size_t i = 0; i < outputs_.size() && i < results.size(); ++i) copyInto(outputs_[i], results[i]);
    }
    stack_.clear();
  }

  std::string describe() const override { return "interpreter"; }

 private:
  torch::jit::Method method_;
  c10::IValue self_;
  std::vector<at::Tensor> inputs_, outputs_;
  std::vector<at::Tensor> deviceInputs_;
  torch::jit::Stack stack_;
};

}  // namespace

std::unique_ptr<Executor> makeInterpreter(const Binding& b) { return std::make_unique<Interpreter>(b); }

}  // namespace torchloop
