// The addon's entry: it only registers. One native class per JS class; per-environment
// state lives in InstanceData (no process-global V8 handles).
#include <napi.h>

#include <chrono>
#include <cmath>

#include "convert.h"
#include "core/runtime.h"
#include "errors.h"
#include "instance.h"
#include "model_wrap.h"
#include "process_group_wrap.h"
#include "step_wrap.h"
#include "trainer_wrap.h"

namespace torchloop::napi {
void initPacer(Napi::Env env, Napi::Object exports);  // pacer_wrap.cc

namespace {

// setup({ TorchError, Tensor, maxArrayBufferBytes }): the classes that native code constructs,
// and the largest ArrayBuffer this Node makes.
Napi::Value Setup(const Napi::CallbackInfo& info) {
  auto& data = instance(info.Env());
  Napi::Object o = info[0].As<Napi::Object>();
  data.torchError = Napi::Persistent(o.Get("TorchError").As<Napi::Function>());
  data.tensor = Napi::Persistent(o.Get("Tensor").As<Napi::Function>());
  if (o.Get("maxArrayBufferBytes").IsNumber()) data.maxArrayBufferBytes = o.Get("maxArrayBufferBytes").As<Napi::Number>().DoubleValue();
  return info.Env().Undefined();
}

Napi::Value RuntimeInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto r = runtimeInfo();
  Napi::Object o = Napi::Object::New(env);
  o.Set("libtorch", r.libtorch);
  o.Set("loadedLibtorch", r.loadedLibtorch);
  o.Set("libtorchPath", r.libtorchPath);
  o.Set("builtAgainst", r.builtAgainst);
  o.Set("cpuCapability", r.cpuCapability);
  o.Set("cuda", r.cudaAvailable);
  o.Set("cudaDeviceCount", r.cudaDeviceCount);
  o.Set("threads", r.numThreads);
  o.Set("interopThreads", r.numInteropThreads);
  o.Set("blas", r.blas);
  return o;
}

Napi::Value SetNumThreadsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    double n = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
    if (!(n >= 1 && n <= maxThreads() && n == std::floor(n))) {
      throw Error(Code::Argument, "Expected an integer from 1 to " + std::to_string(maxThreads()) + " for threads but received " + describeJs(info[0]));
    }
    setNumThreads(static_cast<int>(n));
    return env.Undefined();
  });
}

// loadLibrary(path): a library of TorchScript operators (torch.ops.load_library); returns
// the operators it registered.
Napi::Value LoadLibraryJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) throw Error(Code::Argument, "Expected a path (string) for the library but received " + describeJs(info[0]));
    auto ops = loadLibrary(info[0].As<Napi::String>().Utf8Value());
    Napi::Array out = Napi::Array::New(env, ops.size());
    for (size_t i = 0; i < ops.size(); ++i) out.Set(static_cast<uint32_t>(i), ops[i]);
    return out;
  });
}

// stamp(buf, i): writes the monotonic clock (ms) into a Float64Array slot. Unlike
// performance.now(), it creates no JS value, so a timed realtime loop stays allocation-free.
Napi::Value StampJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) {
    throw makeError(env, Code::Argument, "Expected (Float64Array, index) for stamp");
  }
  Napi::TypedArray arr = info[0].As<Napi::TypedArray>();
  uint32_t i = info[1].As<Napi::Number>().Uint32Value();
  if (arr.TypedArrayType() != napi_float64_array || i >= arr.ElementLength()) {
    throw makeError(env, Code::Argument, "Expected a Float64Array and an index inside it for stamp");
  }
  auto now = std::chrono::steady_clock::now().time_since_epoch();
  arr.As<Napi::Float64Array>()[i] = std::chrono::duration<double, std::milli>(now).count();
  return env.Undefined();
}

// uniform(shape, low, high): a float32 tensor drawn from libtorch's default generator (so
// manualSeed makes it reproducible, in the order PyTorch's initialisers draw).
Napi::Value UniformJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    if (info.Length() < 3 || !info[0].IsArray()) throw Error(Code::Argument, "Expected (shape, low, high) for uniform");
    std::vector<int64_t> shape;
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) shape.push_back(a.Get(i).As<Napi::Number>().Int64Value());
    at::Tensor t = torch::empty(shape, at::kFloat).uniform_(info[1].As<Napi::Number>().DoubleValue(), info[2].As<Napi::Number>().DoubleValue());
    return tensorToJs(env, t, true);
  });
}

Napi::Value ManualSeedJs(const Napi::CallbackInfo& info) {
  torch::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Symbols of another libtorch can resolve and still be the wrong ones: refuse to start on
  // a libtorch other than the one compiled against (lib/native.ts makes it ERR_NATIVE_LOAD).
  if (std::string mismatch = linkedLibtorchMismatch(); !mismatch.empty()) {
    Napi::Error err = Napi::Error::New(env, mismatch);
    err.Set("code", Napi::String::New(env, "ERR_NATIVE_LOAD"));
    throw err;
  }
  auto* data = new InstanceData();
  env.SetInstanceData(data);
  applyRealtimeDefaults();
  Napi::Function model = ModelWrap::Init(env);
  Napi::Function step = StepWrap::Init(env);
  data->model = Napi::Persistent(model);
  data->step = Napi::Persistent(step);
  Napi::Function trainer = TrainerWrap::Init(env);
  data->trainer = Napi::Persistent(trainer);
  exports.Set("NativeTrainer", trainer);
  exports.Set("NativeModel", model);
  exports.Set("NativeStep", step);
  exports.Set("setup", Napi::Function::New(env, Setup));
  exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfoJs));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreadsJs));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeedJs));
  exports.Set("stamp", Napi::Function::New(env, StampJs));
  exports.Set("loadLibrary", Napi::Function::New(env, LoadLibraryJs));
  exports.Set("uniform", Napi::Function::New(env, UniformJs));
  initPacer(env, exports);
  initProcessGroup(env, exports);
  return exports;
}

}  // namespace
}  // namespace torchloop::napi

static Napi::Object InitTorchloop(Napi::Env env, Napi::Object exports) { return torchloop::napi::Init(env, exports); }
NODE_API_MODULE(torchloop, InitTorchloop)
