// The native half of lib/model.ts's Model: one ModelCore per JS object.
#pragma once
#include <napi.h>

#include <memory>
#include <string>
#include <unordered_map>

#include "core/model.h"

namespace torchloop::napi {

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Wraps a loaded core in a new JS object (used by the load workers).
  static Napi::Object Create(Napi::Env env, std::shared_ptr<ModelCore> core);

  explicit ModelWrap(const Napi::CallbackInfo& info);
  ~ModelWrap() override;

  std::shared_ptr<ModelCore> core(Napi::Env env) const;  // throws ERR_DISPOSED once disposed

 private:
  static Napi::Value LoadSync(const Napi::CallbackInfo& info);
  static Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Methods(const Napi::CallbackInfo& info);
  Napi::Value Signature(const Napi::CallbackInfo& info);
  Napi::Value CallSync(const Napi::CallbackInfo& info);
  Napi::Value Call(const Napi::CallbackInfo& info);
  Napi::Value Parameters(const Napi::CallbackInfo& info);
  Napi::Value Buffers(const Napi::CallbackInfo& info);
  Napi::Value SetTraining(const Napi::CallbackInfo& info);
  Napi::Value Training(const Napi::CallbackInfo& info);
  Napi::Value SetGradEnabled(const Napi::CallbackInfo& info);
  Napi::Value GradEnabled(const Napi::CallbackInfo& info);
  Napi::Value Save(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value PackageInfo(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value Disposed(const Napi::CallbackInfo& info);
  Napi::Value CreateStep(const Napi::CallbackInfo& info);
  Napi::Value CreateTrainer(const Napi::CallbackInfo& info);
  Napi::Value LoadStateDict(const Napi::CallbackInfo& info);
  static Napi::Value Compile(const Napi::CallbackInfo& info);

  const MethodSignature& signatureOf(const std::string& method);
  void release(Napi::Env env);

  std::shared_ptr<ModelCore> core_;
  int64_t externalBytes_ = 0;
  std::unordered_map<std::string, MethodSignature> signatures_;
};

}  // namespace torchloop::napi
