#include "errors.h"

#include "instance.h"

namespace torchloop::napi {

Napi::Error makeError(Napi::Env env, Code code, const std::string& message) {
  auto& data = instance(env);
  if (!data.torchError.IsEmpty()) {
    Napi::Object err = data.torchError.New({Napi::String::New(env, codeName(code)), Napi::String::New(env, message)});
    return Napi::Error(env, err);
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, codeName(code)));
  return err;
}

}  // namespace torchloop::napi
