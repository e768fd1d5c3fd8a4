// The native half of a realtime step (lib/realtime/torch-entity.ts). Inputs, outputs and
// the stats slot are tensors owned here and exported once as TypedArray views, so step()
// takes no arguments, returns nothing and allocates nothing in JavaScript.
#pragma once
#include <napi.h>

#include <memory>

#include "core/step.h"

namespace torchloop::napi {

// What the raw step function needs, shared between the wrap and that function (whose
// finalizer drops its share), so a kept function never outlives what it points at.
struct StepHandle {
  std::shared_ptr<StepRunner> runner;
  // float64 [lastRunMs, steps, histogram count, max ms, sum ms, 0, 0, 0], read by JS as a view.
  at::Tensor stats;
  double* statsPtr = nullptr;
  // Run-time histogram, the layout of lib/realtime/latency.ts (1% log buckets from 0.1 µs):
  // recording it here keeps Math.log and counters out of the JavaScript between steps,
  // which measurably widened the tail of the model run itself.
  at::Tensor histogram;
  int32_t* histogramPtr = nullptr;
  int64_t histogramLength = 0;
  double* trace = nullptr;  // optional: each step's entry time (ms) for benchmarks
  size_t traceLength = 0, traceIndex = 0;
};

class StepWrap : public Napi::ObjectWrap<StepWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object Create(Napi::Env env, std::shared_ptr<StepRunner> runner);
  explicit StepWrap(const Napi::CallbackInfo& info);
  // The native step of a JS NativeStep object (the pacer's C++ floor loop runs it), or null.
  static std::shared_ptr<StepHandle> handleOf(Napi::Env env, const Napi::Value& v);
  // One native step: the model run and its record (what a JS step runs).
  static void runNative(StepHandle& h);

 private:
  Napi::Value Inputs(const Napi::CallbackInfo& info);
  Napi::Value Outputs(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Histogram(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value StepFunction(const Napi::CallbackInfo& info);
  Napi::Value Trace(const Napi::CallbackInfo& info);
  Napi::Value Prepare(const Napi::CallbackInfo& info);
  Napi::Value Loop(const Napi::CallbackInfo& info);
  Napi::Value PlanStatus(const Napi::CallbackInfo& info);
  Napi::Value OutputNames(const Napi::CallbackInfo& info);
  Napi::Value Stateful(const Napi::CallbackInfo& info);
  Napi::Value SaveState(const Napi::CallbackInfo& info);
  Napi::Value RestoreState(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  StepRunner& runner(Napi::Env env);
  void exportOutputs(Napi::Env env);

  std::shared_ptr<StepRunner> runner_;
  std::shared_ptr<StepHandle> handle_;
  Napi::Reference<Napi::Array> inputs_, outputs_;
  Napi::Reference<Napi::Value> statsView_, histogramView_, traceBuffer_, stepFunction_;
};

}  // namespace torchloop::napi
