#include "step.h"

#include <algorithm>
#include <chrono>

#include "errors.h"
#include "executor.h"

namespace torchloop {

namespace {
using Clock = std::chrono::steady_clock;

// The median run time of an executor: at least 5 runs, more while under 2 ms in all.
double medianUs(Executor& e) {
  std::vector<double> us;
  const auto start = Clock::now();
  for (int i = 0; i < 50 && (i < 5 || Clock::now() - start < std::chrono::milliseconds(2)); ++i) {
    const auto t0 = Clock::now();
    e.run();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

std::string fmtUs(double us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, us < 100 ? "%.1f" : "%.0f", us);
  return buf;
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
  // On a GPU the step's own tensors are pinned host memory: copies to and from the device
  // are then asynchronous DMA (and capturable in a CUDA graph).
  const bool pinned = model_->device().is_cuda();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (sig.arguments[i].typePtr->kind() != c10::TypeKind::TensorType) {
      throw Error(Code::Argument, "Expected a Tensor argument at position " + std::to_string(i) + " ('" +
                                      sig.arguments[i].name + "') of " + method_ + "() but it is " + sig.arguments[i].type);
    }
    inputs_.push_back(at::zeros(inputs[i].shape, at::TensorOptions().dtype(inputs[i].dtype).pinned_memory(pinned)));
  }
  prepare();
}

StepRunner::~StepRunner() = default;

void StepRunner::prepare() {
  std::lock_guard<std::mutex> lock(model_->mutex());
  executor_.reset();
  ModelCore::NoGradScope guard(*model_);
  c10::IValue result;
  {
    std::vector<c10::IValue> args;
    for (const auto& t : inputs_) args.emplace_back(model_->device().is_cpu() ? t : t.to(model_->device()));
    try {
      result = model_->module().get_method(method_)(std::move(args));
    } catch (const std::exception& e) {
      throw classify(e, Code::Runtime, method_ + "() failed");
    }
  }
  std::vector<at::Tensor> results;
  flattenTensors(result, results);
  bool reuse = outputs_.size() == results.size();
  for (size_t i = 0; reuse && i < results.size(); ++i) {
    reuse = outputs_[i].sizes() == results[i].sizes() && outputs_[i].scalar_type() == results[i].scalar_type();
  }
  if (!reuse) {
    outputs_.clear();
    const bool pinned = model_->device().is_cuda();
    for (const auto& r : results) outputs_.push_back(at::empty(r.sizes(), at::TensorOptions().dtype(r.scalar_type()).pinned_memory(pinned)));
  }
  for (size_t i = 0; i < results.size(); ++i) copyInto(outputs_[i], results[i].to(at::kCPU));
  chooseExecutor();
}

void StepRunner::chooseExecutor() {
  std::vector<at::Tensor> expected;
  for (auto& o : outputs_) expected.push_back(o.clone());
  const Binding binding{*model_, method_, inputs_, outputs_};
  struct Candidate {
    std::unique_ptr<Executor> executor;
    double us = 0;
  };
  std::vector<Candidate> valid;
  std::vector<std::string> why;
  auto consider = [&](const char* name, std::unique_ptr<Executor> (*make)(const Binding&)) {
    try {
      auto e = make(binding);
      e->run();
      for (size_t i = 0; i < outputs_.size(); ++i) {
        if (!at::allclose(outputs_[i], expected[i], 1e-4, 1e-5, /*equal_nan=*/true)) {
          throw std::runtime_error("output " + std::to_string(i) + " differed from the interpreter's");
        }
      }
      valid.push_back({std::move(e)});
    } catch (const std::exception& e) {
      why.push_back(std::string(name) + ": " + messageOf(e));
    }
  };
  valid.push_back({makeInterpreter(binding)});
  if (!options_.usePlan) {
    why.push_back("plan disabled");
  } else {
    if (model_->device().is_cpu()) consider("plan", makePlan);
    if (model_->device().is_cuda()) consider("cuda graph", makeCudaGraph);
  }
  size_t best = 0;
  if (valid.size() > 1) {
    for (auto& c : valid) c.us = medianUs(*c.executor);
    for (size_t i = 1; i < valid.size(); ++i) {
      if (valid[i].us < valid[best].us) best = i;
    }
    for (size_t i = 0; i < valid.size(); ++i) {
      if (i != best) why.push_back("faster than " + valid[i].executor->describe() + ": " + fmtUs(valid[best].us) + " vs " + fmtUs(valid[i].us) + " µs");
    }
  }
  executor_ = std::move(valid[best].executor);
  executor_->run();
  planStatus_ = executor_->describe();
  // Say why another executor is not running, unless the chosen one is simply the best fit.
  if (best == 0 && !why.empty()) {
    planStatus_ += " (";
    for (size_t i = 0; i < why.size(); ++i) planStatus_ += (i ? "; " : "") + why[i];
    planStatus_ += ")";
  }
}

void StepRunner::step() {
  model_->checkNotDisposed("step");
  std::lock_guard<std::mutex> lock(model_->mutex());
  auto t0 = Clock::now();
  try {
    ModelCore::NoGradScope guard(*model_);
    executor_->run();
  } catch (const std::exception& e) {
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
