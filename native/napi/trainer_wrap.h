// The native half of lib/train/trainer.ts's Trainer.
#pragma once
#include <napi.h>

#include <memory>

#include "core/trainer.h"

namespace torchloop::napi {

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  static Napi::Object Create(Napi::Env env, std::shared_ptr<Trainer> trainer, bool restored);
  explicit TrainerWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value StepSync(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value EvaluateSync(const Napi::CallbackInfo& info);
  Napi::Value Evaluate(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Gradients(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  Trainer& trainer(Napi::Env env);
  Napi::Value run(const Napi::CallbackInfo& info, bool train, bool async);

  std::shared_ptr<Trainer> trainer_;
  bool restored_ = false;
};

// Parses a JS config object into a TrainerConfig (unknown keys are an ERR_ARGUMENT).
TrainerConfig trainerConfigFromJs(const Napi::Object& o);

}  // namespace torchloop::napi
