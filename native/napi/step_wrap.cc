#include "step_wrap.h"

#include <chrono>
#include <cmath>

#include "convert.h"
#include "errors.h"
#include "instance.h"

namespace torchloop::napi {

namespace {
const int64_t kHistogramBuckets = static_cast<int64_t>(std::ceil(std::log(1e4 / 1e-4) / std::log(1.01))) + 1;
}  // namespace

Napi::Function StepWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeStep",
                     {
                         InstanceMethod<&StepWrap::Inputs>("inputs"),
                         InstanceMethod<&StepWrap::Outputs>("outputs"),
                         InstanceMethod<&StepWrap::Stats>("stats"),
                         InstanceMethod<&StepWrap::Histogram>("histogram"),
                         InstanceMethod<&StepWrap::Step>("step"),
                         InstanceMethod<&StepWrap::StepFunction>("stepFunction"),
                         InstanceMethod<&StepWrap::Trace>("trace"),
                         InstanceMethod<&StepWrap::Prepare>("prepare"),
                         InstanceMethod<&StepWrap::Loop>("loop"),
                         InstanceMethod<&StepWrap::PlanStatus>("planStatus"),
                         InstanceMethod<&StepWrap::OutputNames>("outputNames"),
                         InstanceMethod<&StepWrap::Stateful>("stateful"),
                         InstanceMethod<&StepWrap::SaveState>("saveState"),
                         InstanceMethod<&StepWrap::RestoreState>("restoreState"),
                         InstanceMethod<&StepWrap::Dispose>("dispose"),
                     });
}

Napi::Object StepWrap::Create(Napi::Env env, std::shared_ptr<StepRunner> runner) {
  auto* holder = new std::shared_ptr<StepRunner>(std::move(runner));
  auto ext = Napi::External<std::shared_ptr<StepRunner>>::New(env, holder, [](Napi::Env, std::shared_ptr<StepRunner>* h) { delete h; });
  return instance(env).step.New({ext});
}

StepWrap::StepWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StepWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal()) throw makeError(env, Code::Argument, "NativeStep is created by a model");
  runner_ = std::move(*info[0].As<Napi::External<std::shared_ptr<StepRunner>>>().Data());  // not a copy: see ModelWrap
  boundary(env, [&] {
    Napi::Array ins = Napi::Array::New(env, runner_->inputs().size());
    for (size_t i = 0; i < runner_->inputs().size(); ++i) ins.Set(static_cast<uint32_t>(i), exportOwnedTensor(env, runner_->inputs()[i]));
    inputs_ = Napi::Persistent(ins);
    exportOutputs(env);
    handle_ = std::make_shared<StepHandle>();
    handle_->runner = runner_;
    handle_->stats = at::zeros({8}, at::kDouble);
    handle_->statsPtr = handle_->stats.data_ptr<double>();
    statsView_ = Napi::Persistent(exportOwnedTensor(env, handle_->stats));
    handle_->histogramLength = kHistogramBuckets;
    handle_->histogram = at::zeros({kHistogramBuckets}, at::kInt);
    handle_->histogramPtr = handle_->histogram.data_ptr<int32_t>();
    histogramView_ = Napi::Persistent(exportOwnedTensor(env, handle_->histogram));
    return 0;
  });
}

void StepWrap::exportOutputs(Napi::Env env) {
  // Signals read int64 results through their float64 mirrors (StepRunner::signalOutputs).
  auto& outputs = runner_->signalOutputs();
  Napi::Array outs = Napi::Array::New(env, outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) outs.Set(static_cast<uint32_t>(i), exportOwnedTensor(env, outputs[i]));
  outputs_ = Napi::Persistent(outs);
}

StepRunner& StepWrap::runner(Napi::Env env) {
  if (!runner_) throw Error(Code::Disposed, "The step has been disposed");
  return *runner_;
}

Napi::Value StepWrap::Inputs(const Napi::CallbackInfo& info) { return inputs_.Value(); }
Napi::Value StepWrap::Outputs(const Napi::CallbackInfo& info) { return outputs_.Value(); }
Napi::Value StepWrap::Stats(const Napi::CallbackInfo& info) { return statsView_.Value(); }
Napi::Value StepWrap::Histogram(const Napi::CallbackInfo& info) { return histogramView_.Value(); }

namespace {

// lib/realtime/latency.ts: MIN_MS = 1e-4, GROWTH = log(1.01), BUCKETS = ceil(log(1e4 / MIN_MS) / GROWTH) + 1.
constexpr double kHistogramMinMs = 1e-4;
const double kHistogramGrowth = std::log(1.01);

inline void recordRun(StepHandle& h, double ms) {
  int64_t i = ms <= kHistogramMinMs ? 0 : static_cast<int64_t>(std::floor(std::log(ms / kHistogramMinMs) / kHistogramGrowth)) + 1;
  if (i >= h.histogramLength) i = h.histogramLength - 1;
  h.histogramPtr[i]++;
  h.statsPtr[2] += 1;
  if (ms > h.statsPtr[3]) h.statsPtr[3] = ms;
  h.statsPtr[4] += ms;
}

inline double nowMs() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// The native part of a step: the model run and its record. The C++ floor loops exactly this.
inline void nativeStep(StepHandle& h) {
  if (!h.runner) throw Error(Code::Disposed, "The step has been disposed");
  h.runner->step();
  const double ms = h.runner->lastRunMs();
  h.statsPtr[0] = ms;
  h.statsPtr[1] += 1;
  recordRun(h, ms);
}

// One step from JavaScript; returns false with a JS exception pending when it fails. No JS
// value is created unless it fails.
bool runStep(napi_env env, StepHandle& h) {
  if (h.trace) {
    h.trace[h.traceIndex] = nowMs();
    if (++h.traceIndex == h.traceLength) h.traceIndex = 0;
  }
  try {
    nativeStep(h);
  } catch (const Error& e) {
    napi_throw(env, makeError(Napi::Env(env), e.code(), e.what()).Value());
    return false;
  } catch (const std::exception& e) {
    Error err = classify(e, Code::Runtime, "");
    napi_throw(env, makeError(Napi::Env(env), err.code(), err.what()).Value());
    return false;
  }
  return true;
}

// The hot path as a plain N-API function: its data is the handle, so a call costs one
// napi_get_cb_info, with no unwrap and no argument handling.
napi_value RawStep(napi_env env, napi_callback_info info) {
  void* data = nullptr;
  napi_get_cb_info(env, info, nullptr, nullptr, nullptr, &data);
  runStep(env, **static_cast<std::shared_ptr<StepHandle>*>(data));
  return nullptr;
}

}  // namespace

std::shared_ptr<StepHandle> StepWrap::handleOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject() || !v.As<Napi::Object>().InstanceOf(instance(env).step.Value())) return nullptr;
  return StepWrap::Unwrap(v.As<Napi::Object>())->handle_;
}

void StepWrap::runNative(StepHandle& h) { nativeStep(h); }

Napi::Value StepWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!runStep(env, *handle_)) throw env.GetAndClearPendingException();
  return env.Undefined();
}

Napi::Value StepWrap::StepFunction(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (stepFunction_.IsEmpty()) {
    auto* data = new std::shared_ptr<StepHandle>(handle_);
    napi_value fn;
    NAPI_THROW_IF_FAILED(env, napi_create_function(env, "step", NAPI_AUTO_LENGTH, RawStep, data, &fn), Napi::Value());
    NAPI_THROW_IF_FAILED(env, napi_add_finalizer(env, fn, data, [](napi_env, void* d, void*) { delete static_cast<std::shared_ptr<StepHandle>*>(d); }, nullptr, nullptr), Napi::Value());
    stepFunction_ = Napi::Persistent(Napi::Value(env, fn));
  }
  return stepFunction_.Value();
}

// trace(Float64Array | null): each step writes its entry time (ms) into the next slot, so a
// benchmark gets per-step cycle times from JavaScript without a clock call in its loop.
Napi::Value StepWrap::Trace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() > 0 && info[0].IsTypedArray() && info[0].As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
    Napi::Float64Array buf = info[0].As<Napi::Float64Array>();
    traceBuffer_ = Napi::Persistent(static_cast<Napi::Value>(buf));
    handle_->trace = buf.Data();
    handle_->traceLength = buf.ElementLength();
    handle_->traceIndex = 0;
  } else {
    handle_->trace = nullptr;
    traceBuffer_.Reset();
  }
  return env.Undefined();
}

Napi::Value StepWrap::Prepare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto& r = runner(env);
    std::vector<void*> before;
    for (auto& o : r.signalOutputs()) before.push_back(o.data_ptr());
    r.prepare();
    bool changed = before.size() != r.signalOutputs().size();
    for (size_t i = 0; !changed && i < before.size(); ++i) changed = before[i] != r.signalOutputs()[i].data_ptr();
    if (changed) exportOutputs(env);
    return Napi::Boolean::New(env, changed);
  });
}

// The C++ floor: the same native step as a JavaScript step, looped in C++, timed the same
// way as a traced JavaScript loop (entry to entry, one clock read per step).
Napi::Value StepWrap::Loop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    runner(env);
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw Error(Code::Argument, "Expected a Float64Array for the durations but received " +
                                      (info.Length() ? describeJs(info[0]) : std::string("nothing")));
    }
    Napi::Float64Array out = info[0].As<Napi::Float64Array>();
    const size_t n = out.ElementLength();
    std::vector<double> entry(n + 1);
    for (size_t i = 0; i <= n; ++i) {
      entry[i] = nowMs();
      nativeStep(*handle_);
    }
    for (size_t i = 0; i < n; ++i) out[i] = (entry[i + 1] - entry[i]) * 1000.0;  // microseconds
    return env.Undefined();
  });
}

Napi::Value StepWrap::PlanStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value { return Napi::String::New(env, runner(env).planStatus()); });
}

Napi::Value StepWrap::OutputNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    const auto& names = runner(env).outputNames();
    Napi::Array out = Napi::Array::New(env, names.size());
    for (size_t i = 0; i < names.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::String::New(env, names[i]));
    return out;
  });
}

Napi::Value StepWrap::Stateful(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value { return Napi::Boolean::New(env, runner(env).stateful()); });
}

Napi::Value StepWrap::SaveState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto& r = runner(env);
    std::lock_guard<std::mutex> lock(r.model()->mutex());
    r.saveState();
    return env.Undefined();
  });
}

Napi::Value StepWrap::RestoreState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto& r = runner(env);
    std::lock_guard<std::mutex> lock(r.model()->mutex());
    r.restoreState();
    return env.Undefined();
  });
}

Napi::Value StepWrap::Dispose(const Napi::CallbackInfo& info) {
  runner_.reset();
  handle_->runner.reset();
  handle_->trace = nullptr;
  traceBuffer_.Reset();
  return info.Env().Undefined();
}

}  // namespace torchloop::napi
