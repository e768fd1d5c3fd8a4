#include "step.h"

#include <chrono>
#include <cstring>

#include "errors.h"
#include "plan.h"
#include "runtime.h"

namespace torchloop {

namespace {
using Clock = std::chrono::steady_clock;

void collectTensors(const c10::IValue& v, std::vector<at::Tensor>& out) {
  if (v.isTensor()) {
    out.push_back(v.toTensor());
  } else if (v.isTuple()) {
    for (const auto& e : v.toTupleRef().elements()) collectTensors(e, out);
  } else if (v.isTensorList()) {
    for (const at::Tensor& t : v.toTensorList().vec()) out.push_back(t);
  } else if (v.isList()) {
    for (const auto& e : v.toListRef()) collectTensors(e, out);
  } else {
    throw Error(Code::Argument, "A realtime step needs a method that returns a tensor or a tuple of tensors, but it returned " +
                                    v.tagKind());
  }
}

// Copies without going through the dispatcher when layouts allow it.
inline void copyInto(at::Tensor& dst, const at::Tensor& src) {
  if (src.device().is_cpu() && src.scalar_type() == dst.scalar_type() && src.is_contiguous() &&
      src.numel() == dst.numel()) {
    std::memcpy(dst.data_ptr(), src.data_ptr(), src.nbytes());
  } else {
    dst.copy_(src.reshape(dst.sizes()));
  }
}
}  // namespace

StepRunner::StepRunner(std::shared_ptr<ModelCore> model, std::string method, std::vector<TensorSpec> inputs,
                       StepOptions options)
    : model_(std::move(model)), method_(std::move(method)), options_(options) {
  if (!model_->hasMethod(method_)) throw Error(Code::NotFound, "The model has no method '" + method_ + "'");
  auto sig = model_->signature(method_);
  size_t required = 0;
  for (const auto& a : sig.arguments) required += a.hasDefault ? 0 : 1;
  if (inputs.size() < required || inputs.size() > sig.arguments.size()) {
    throw Error(Code::Argument, "Expected " + std::to_string(required) + " input signal(s) for " + method_ +
                                    "() but received " + std::to_string(inputs.size()));
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (sig.arguments[i].typePtr->kind() != c10::TypeKind::TensorType) {
      throw Error(Code::Argument, "Expected a Tensor argument at position " + std::to_string(i) + " ('" +
                                      sig.arguments[i].name + "') of " + method_ + "() but it is " + sig.arguments[i].type);
    }
    inputs_.push_back(at::zeros(inputs[i].shape, at::TensorOptions().dtype(inputs[i].dtype)));
  }
  methodHandle_ = model_->module().get_method(method_);
  stack_.reserve(inputs_.size() + 2);
  prepare();
}

StepRunner::~StepRunner() = default;

void StepRunner::prepare() {
  std::lock_guard<std::mutex> lock(model_->mutex());
  plan_.reset();
  if (!model_->device().is_cpu()) {
    deviceInputs_.clear();
    for (auto& t : inputs_) deviceInputs_.push_back(t.to(model_->device()));
  }
  c10::IValue result;
  {
    ModelCore::NoGradScope guard(*model_);
    std::vector<c10::IValue> args(inputs_.begin(), inputs_.end());
    if (!deviceInputs_.empty()) args.assign(deviceInputs_.begin(), deviceInputs_.end());
    try {
      result = (*methodHandle_)(std::move(args));
    } catch (const std::exception& e) {
      throw classify(e, Code::Runtime, method_ + "() failed");
    }
  }
  std::vector<at::Tensor> results;
  collectTensors(result, results);
  bool reuse = outputs_.size() == results.size();
  for (size_t i = 0; reuse && i < results.size(); ++i) {
    reuse = outputs_[i].sizes() == results[i].sizes() && outputs_[i].scalar_type() == results[i].scalar_type();
  }
  if (!reuse) {
    outputs_.clear();
    for (const auto& r : results) outputs_.push_back(at::empty(r.sizes(), at::TensorOptions().dtype(r.scalar_type())));
  }
  for (size_t i = 0; i < results.size(); ++i) copyInto(outputs_[i], results[i].to(at::kCPU));
  if (options_.usePlan) buildPlan();
  else planStatus_ = "interpreter (plan disabled)";
}

void StepRunner::buildPlan() {
  if (!model_->device().is_cpu()) {
    planStatus_ = "interpreter (plan is CPU only)";
    return;
  }
  if (model_->training()) {
    planStatus_ = "interpreter (model in training mode)";
    return;
  }
  std::vector<at::Tensor> expected;
  for (auto& o : outputs_) expected.push_back(o.clone());
  std::unique_ptr<StepPlan> plan;
  try {
    ModelCore::NoGradScope guard(*model_);  // the same mode the plan will run in
    plan = std::make_unique<StepPlan>(model_->module(), method_, inputs_, outputs_);
    plan->run();
  } catch (const std::exception& e) {
    planStatus_ = std::string("interpreter (") + messageOf(e) + ")";
    for (size_t i = 0; i < outputs_.size(); ++i) outputs_[i].copy_(expected[i]);
    return;
  }
  for (size_t i = 0; i < outputs_.size(); ++i) {
    if (!at::allclose(outputs_[i], expected[i], 1e-4, 1e-5, /*equal_nan=*/true)) {
      planStatus_ = "interpreter (plan output " + std::to_string(i) + " differed from the interpreter's)";
      for (size_t j = 0; j < outputs_.size(); ++j) outputs_[j].copy_(expected[j]);
      return;
    }
  }
  planStatus_ = "plan (" + std::to_string(plan->size()) + " ops)";
  plan_ = std::move(plan);
}

void StepRunner::runInterpreter() {
  stack_.clear();
  stack_.emplace_back(methodHandle_->owner()._ivalue());
  if (deviceInputs_.empty()) {
    for (const auto& t : inputs_) stack_.emplace_back(t);
  } else {
    for (size_t i = 0; i < inputs_.size(); ++i) {
      deviceInputs_[i].copy_(inputs_[i], /*non_blocking=*/true);
      stack_.emplace_back(deviceInputs_[i]);
    }
  }
  methodHandle_->function().run(stack_);
  const c10::IValue& result = stack_.back();
  if (result.isTensor()) {
    copyInto(outputs_[0], result.toTensor());
  } else if (result.isTuple()) {
    const auto& elems = result.toTupleRef().elements();
    for (size_t i = 0; i < outputs_.size() && i < elems.size(); ++i) copyInto(outputs_[i], elems[i].toTensor());
  } else {
    std::vector<at::Tensor> results;
    collectTensors(result, results);
    for (size_t i = 0; i < outputs_.size() && i < results.size(); ++i) copyInto(outputs_[i], results[i]);
  }
  stack_.clear();
}

void StepRunner::step() {
  std::lock_guard<std::mutex> lock(model_->mutex());
  auto t0 = Clock::now();
  try {
    ModelCore::NoGradScope guard(*model_);
    if (plan_) plan_->run();
    else runInterpreter();
  } catch (const std::exception& e) {
    stack_.clear();
    throw classify(e, Code::Runtime, method_ + "() failed");
  }
  lastRunMs_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void StepRunner::loop(int64_t n, int64_t* durationsNs) {
  for (int64_t i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    step();
    durationsNs[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  }
}

}  // namespace torchloop
