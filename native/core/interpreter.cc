// The interpreter executor: TorchScript's own interpreter, with a stack reused from run to
// run. Inputs on another device than the model's are copied to tensors kept on that device.
#include <cstring>

#include "errors.h"
#include "executor.h"

namespace torchloop {

void flattenTensors(const c10::IValue& v, std::vector<at::Tensor>& out, std::vector<std::string>* names, const std::string& prefix) {
  // Places are only spelled out when asked for (a step's run asks for none).
  auto at = [&](const std::string& part) { return !names ? std::string() : prefix.empty() ? part : prefix + "." + part; };
  if (v.isTensor()) {
    out.push_back(v.toTensor());
    if (names) names->push_back(prefix.empty() ? "0" : prefix);
  } else if (v.isTuple() || v.isList()) {
    size_t i = 0;
    if (v.isTuple()) {
      for (const auto& e : v.toTupleRef().elements()) flattenTensors(e, out, names, names ? at(std::to_string(i)) : std::string()), ++i;
    } else {
      for (const auto& e : v.toListRef()) flattenTensors(e, out, names, names ? at(std::to_string(i)) : std::string()), ++i;
    }
  } else if (v.isGenericDict() && v.toGenericDict().keyType()->kind() == c10::TypeKind::StringType) {
    for (const auto& kv : v.toGenericDict()) flattenTensors(kv.value(), out, names, names ? at(kv.key().toStringRef()) : std::string());
  } else {
    throw Error(Code::Argument, "A realtime step needs a method that returns tensors (a tensor, or tuples, lists or Dict[str, Tensor] of them), but it returned " +
                                    v.tagKind() + (prefix.empty() ? "" : " at " + prefix));
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
      : method_(b.model.module().get_method(b.method)), self_(method_.owner()._ivalue()), inputs_(b.inputs), outputs_(b.outputs),
        pushArguments_(b.plainTensors ? nullptr : b.pushArguments) {
    if (!b.model.device().is_cpu()) {
      for (const auto& t : inputs_) deviceInputs_.push_back(at::empty_like(t, at::TensorOptions().device(b.model.device()).pinned_memory(false)));
    }
    stack_.reserve(inputs_.size() + 2);
  }

  void run() override {
    stack_.clear();
    stack_.emplace_back(self_);
    if (pushArguments_) {
      pushArguments_(stack_);
    } else if (deviceInputs_.empty()) {
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
    } else if (result.isTuple() && !nested_) {
      const auto& elems = result.toTupleRef().elements();
      for (size_t i = 0; i < outputs_.size() && i < elems.size(); ++i) {
        if (!elems[i].isTensor()) {
          nested_ = true;
          break;
        }
        copyInto(outputs_[i], elems[i].toTensor());
      }
      if (nested_) copyFlattened(result);
    } else {
      copyFlattened(result);
    }
    stack_.clear();
  }

  std::string describe() const override { return "interpreter"; }

 private:
  void copyFlattened(const c10::IValue& result) {
    results_.clear();  // keeps its capacity: no allocation after the first run
    flattenTensors(result, results_);
    for (size_t i = 0; i < outputs_.size() && i < results_.size(); ++i) copyInto(outputs_[i], results_[i]);
  }

  torch::jit::Method method_;
  c10::IValue self_;
  std::vector<at::Tensor> inputs_, outputs_;
  std::vector<at::Tensor> deviceInputs_;
  torch::jit::Stack stack_;
  std::function<void(torch::jit::Stack&)> pushArguments_;
  std::vector<at::Tensor> results_;
  bool nested_ = false;  // a tuple result holding tuples or dicts
};

}  // namespace

std::unique_ptr<Executor> makeInterpreter(const Binding& b) { return std::make_unique<Interpreter>(b); }

}  // namespace torchloop
