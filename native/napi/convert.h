// JavaScript values <-> TorchScript IValues, directed by the method's schema.
//  Tensor (lib/tensor.ts) or a TypedArray  <-> Tensor   (inputs: from_blob, no copy)
//  number <-> int / float as the schema says; boolean, string, null <-> None
//  Array <-> List / Tuple; plain object <-> Dict[str, T]
#pragma once
#include <napi.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "core/model.h"

namespace torchloop::napi {

// Keeps the ArrayBuffers that input tensors point into alive (an async call holds it until
// the call completes).
struct KeepAlive {
  std::vector<Napi::Reference<Napi::Value>> buffers;
  bool persistent = false;  // take references only for async calls
};

at::ScalarType parseDtype(const std::string& dtype);
const char* dtypeName(at::ScalarType t);

at::Tensor tensorFromJs(const Napi::Value& v, const std::string& what, KeepAlive& keep);
c10::IValue toIValue(const Napi::Value& v, const c10::TypePtr& type, const std::string& what, KeepAlive& keep);
// Converts call arguments per the signature, filling defaults for arguments left out.
std::vector<c10::IValue> argumentsFromJs(const Napi::Array& args, const MethodSignature& sig, KeepAlive& keep);

// Converts a result. Large tensors (>= 256 KiB) that own their memory alone come back
// zero-copy, the ArrayBuffer owning the libtorch tensor; small ones and aliases of inputs or
// parameters are copied into V8-owned memory (see kZeroCopyMinBytes in convert.cc).
Napi::Value fromIValue(Napi::Env env, const c10::IValue& v);
Napi::Value tensorToJs(Napi::Env env, const at::Tensor& t, bool allowZeroCopy);
// Exports a tensor zero-copy: the ArrayBuffer holds the tensor (and reports its size to V8).
// Used for realtime buffers, exported once, and for large outputs.
Napi::Value exportOwnedTensor(Napi::Env env, const at::Tensor& t);
Napi::Value copyTensorToJs(Napi::Env env, const at::Tensor& t);

std::string describeJs(const Napi::Value& v);

}  // namespace torchloop::napi
