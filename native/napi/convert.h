// JavaScript values <-> TorchScript IValues, directed by the method's schema.
//  Tensor (lib/tensor.ts) or a TypedArray  <-> Tensor   (inputs: from_blob, or a copy for async calls)
//  number <-> int / float as the schema says; boolean, string, null <-> None
//  Array <-> List / Tuple; plain object <-> Dict[str, T]
#pragma once
#include <napi.h>
#include <torch/script.h>

#include <string>
#include <vector>

#include "core/model.h"

namespace torchloop::napi {

// How input tensors are taken from JavaScript. A synchronous call reads the caller's memory
// in place (from_blob: no JavaScript runs until it returns). A call that outlives the JS call
// (async) copies its inputs first, so that a transfer, a detach or a shrink of the caller's
// buffers meanwhile cannot reach libtorch.
struct InputPolicy {
  bool copy = false;
};

at::ScalarType parseDtype(const std::string& dtype);
const char* dtypeName(at::ScalarType t);

at::Tensor tensorFromJs(const Napi::Value& v, const std::string& what, InputPolicy keep);
c10::IValue toIValue(const Napi::Value& v, const c10::TypePtr& type, const std::string& what, InputPolicy keep);
// Converts call arguments per the signature, filling defaults for arguments left out.
std::vector<c10::IValue> argumentsFromJs(const Napi::Array& args, const MethodSignature& sig, InputPolicy keep);

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
