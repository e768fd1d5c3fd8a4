// The native half of a realtime step (lib/realtime/torch-entity.ts). Inputs, outputs and
// the stats slot are tensors owned here and exported once as TypedArray views, so step()
// takes no arguments, returns nothing and allocates nothing in JavaScript.
#pragma once
#include <napi.h>

#include <memory>

#include "core/step.h"

namespace torchloop::napi {

class StepWrap : public Napi::ObjectWrap<StepWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object Create(Napi::Env env, std::shared_ptr<StepRunner> runner);
  explicit StepWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Inputs(const Napi::CallbackInfo& info);
  Napi::Value Outputs(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Prepare(const Napi::CallbackInfo& info);
  Napi::Value Loop(const Napi::CallbackInfo& info);
  Napi::Value PlanStatus(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  StepRunner& runner(Napi::Env env);
  void exportOutputs(Napi::Env env);

  std::shared_ptr<StepRunner> runner_;
  at::Tensor stats_;  // float64 [lastRunMs]
  double* statsPtr_ = nullptr;
  Napi::Reference<Napi::Array> inputs_, outputs_;
  Napi::Reference<Napi::Value> statsView_;
};

}  // namespace torchloop::napi
