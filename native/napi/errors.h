// The exception boundary of every native entry point: torchloop::Error and libtorch
// errors become a TorchError (defined in lib/errors.ts) with a code and no backtrace.
#pragma once
#include <napi.h>

#include <string>

#include "core/errors.h"

namespace torchloop::napi {

Napi::Error makeError(Napi::Env env, Code code, const std::string& message);

template <typename F>
auto boundary(Napi::Env env, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const Error& e) {
    throw makeError(env, e.code(), e.what());
  } catch (const std::exception& e) {
    Error err = classify(e, Code::Runtime, "");
    throw makeError(env, err.code(), err.what());
  } catch (...) {
    throw makeError(env, Code::Runtime, "unknown native error");
  }
}

}  // namespace torchloop::napi
