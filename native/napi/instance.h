// Per-environment state (worker_threads and several loads each get their own): the
// JavaScript classes native code constructs, registered by lib/native.ts through setup().
#pragma once
#include <napi.h>

namespace torchloop::napi {

struct InstanceData {
  Napi::FunctionReference torchError;  // lib/errors.ts TorchError(code, message)
  Napi::FunctionReference tensor;      // lib/tensor.ts Tensor(data, shape, dtype)
  Napi::FunctionReference model;       // native Model handle class
  Napi::FunctionReference step;        // native StepRunner handle class
  Napi::FunctionReference trainer;     // native Trainer handle class
  Napi::FunctionReference processGroup;  // native ProcessGroup handle class
  // The largest ArrayBuffer this Node can make (buffer.constants.MAX_LENGTH); a bigger tensor
  // is an error, not a fatal V8 allocation failure.
  double maxArrayBufferBytes = 4294967296.0;
};

inline InstanceData& instance(Napi::Env env) { return *env.GetInstanceData<InstanceData>(); }

}  // namespace torchloop::napi
