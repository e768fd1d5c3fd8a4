// NativeProcessGroup (lib/train/distributed.ts): a c10d process group for data-parallel training.
//   connectProcessGroup({ rank, worldSize, masterHost, masterPort, localHost?, timeoutMs }) -> Promise<NativeProcessGroup>
//     (the rendezvous runs on a worker thread: the event loop stays free while ranks join)
//   group.allreduce(Float32Array | Float64Array)   sums across the group, in place
//   group.barrier(), group.dispose()
//   distributedInfo() -> { available, why }
// A NativeTrainer attaches to one: trainer.attach(group, bucketCapBytes).
#include "process_group_wrap.h"

#include <cmath>

#include "convert.h"
#include "errors.h"
#include "instance.h"

namespace torchloop::napi {

namespace {

int intOption(const Napi::Object& o, const char* key, double lo, double hi, double fallback) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    if (std::isnan(fallback)) throw Error(Code::Argument, std::string("Expected ") + key + " in the process group options");
    return static_cast<int>(fallback);
  }
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!(d >= lo && d <= hi && d == std::floor(d))) {
    throw Error(Code::Argument, std::string("Expected an integer from ") + std::to_string(static_cast<long long>(lo)) + " to " +
                                    std::to_string(static_cast<long long>(hi)) + " for " + key + " but received " + describeJs(v));
  }
  return static_cast<int>(d);
}

class ConnectWorker : public Napi::AsyncWorker {
 public:
  ConnectWorker(Napi::Env env, ProcessGroupOptions options) : Napi::AsyncWorker(env), options_(std::move(options)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      group_ = std::make_shared<ProcessGroup>(options_);
    } catch (const Error& e) {
      error_ = std::make_unique<Error>(e);
    } catch (const std::exception& e) {
      error_ = std::make_unique<Error>(classify(e, Code::Distributed, "process group"));
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (error_) {
      deferred_.Reject(makeError(env, error_->code(), error_->what()).Value());
      return;
    }
    auto* holder = new std::shared_ptr<ProcessGroup>(std::move(group_));
    auto ext = Napi::External<std::shared_ptr<ProcessGroup>>::New(env, holder, [](Napi::Env, std::shared_ptr<ProcessGroup>* h) { delete h; });
    deferred_.Resolve(instance(env).processGroup.New({ext}));
  }

 private:
  ProcessGroupOptions options_;
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<ProcessGroup> group_;
  std::unique_ptr<Error> error_;
};

Napi::Value Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) throw Error(Code::Argument, "Expected the process group options");
    Napi::Object o = info[0].As<Napi::Object>();
    ProcessGroupOptions opts;
    opts.worldSize = intOption(o, "worldSize", 1, 65536, NAN);
    opts.rank = intOption(o, "rank", 0, opts.worldSize - 1, NAN);
    opts.masterPort = intOption(o, "masterPort", 1, 65535, NAN);
    opts.timeout = std::chrono::milliseconds(intOption(o, "timeoutMs", 1, 86400000, 60000));
    if (!o.Get("masterHost").IsString()) throw Error(Code::Argument, "Expected a masterHost string in the process group options");
    opts.masterHost = o.Get("masterHost").As<Napi::String>().Utf8Value();
    if (o.Get("localHost").IsString()) opts.localHost = o.Get("localHost").As<Napi::String>().Utf8Value();
    auto* worker = new ConnectWorker(env, opts);
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  });
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string why;
  bool ok = distributedAvailable(&why);
  Napi::Object o = Napi::Object::New(env);
  o.Set("available", ok);
  o.Set("why", why);
  return o;
}

}  // namespace

Napi::Function ProcessGroupWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeProcessGroup", {
      InstanceMethod<&ProcessGroupWrap::Rank>("rank"),
      InstanceMethod<&ProcessGroupWrap::WorldSize>("worldSize"),
      InstanceMethod<&ProcessGroupWrap::Allreduce>("allreduce"),
      InstanceMethod<&ProcessGroupWrap::Barrier>("barrier"),
      InstanceMethod<&ProcessGroupWrap::Dispose>("dispose"),
  });
}

ProcessGroupWrap::ProcessGroupWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupWrap>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) throw makeError(info.Env(), Code::Argument, "NativeProcessGroup is created by connectProcessGroup()");
  group_ = std::move(*info[0].As<Napi::External<std::shared_ptr<ProcessGroup>>>().Data());
}

ProcessGroup& ProcessGroupWrap::group() {
  if (!group_) throw Error(Code::Disposed, "The process group has been disposed");
  return *group_;
}

std::shared_ptr<ProcessGroup> ProcessGroupWrap::From(Napi::Env env, Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(instance(env).processGroup.Value())) {
    throw Error(Code::Argument, "Expected a process group (from connectProcessGroup) but received " + describeJs(value));
  }
  auto* wrap = ProcessGroupWrap::Unwrap(value.As<Napi::Object>());
  wrap->group();
  return wrap->group_;
}

Napi::Value ProcessGroupWrap::Rank(const Napi::CallbackInfo& info) {
  return boundary(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), group().rank()); });
}
Napi::Value ProcessGroupWrap::WorldSize(const Napi::CallbackInfo& info) {
  return boundary(info.Env(), [&]() -> Napi::Value { return Napi::Number::New(info.Env(), group().worldSize()); });
}

Napi::Value ProcessGroupWrap::Allreduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto& g = group();
    if (info.Length() < 1 || !info[0].IsTypedArray()) throw Error(Code::Argument, "Expected a Float32Array or Float64Array for allreduce but received " + describeJs(info[0]));
    Napi::TypedArray a = info[0].As<Napi::TypedArray>();
    at::ScalarType type;
    if (a.TypedArrayType() == napi_float32_array) type = at::kFloat;
    else if (a.TypedArrayType() == napi_float64_array) type = at::kDouble;
    else throw Error(Code::Argument, "Expected a Float32Array or Float64Array for allreduce but received " + describeJs(info[0]));
    if (a.ArrayBuffer().Data() == nullptr && a.ByteLength() > 0) throw Error(Code::Argument, "The array's buffer has been detached");
    auto* data = static_cast<uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
    at::Tensor t = at::from_blob(data, {static_cast<int64_t>(a.ElementLength())}, at::TensorOptions().dtype(type));
    g.allreduceSum(t);
    return env.Undefined();
  });
}

Napi::Value ProcessGroupWrap::Barrier(const Napi::CallbackInfo& info) {
  return boundary(info.Env(), [&]() -> Napi::Value {
    group().barrier();
    return info.Env().Undefined();
  });
}

Napi::Value ProcessGroupWrap::Dispose(const Napi::CallbackInfo& info) {
  group_.reset();
  return info.Env().Undefined();
}

void initProcessGroup(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = ProcessGroupWrap::Init(env);
  instance(env).processGroup = Napi::Persistent(ctor);
  exports.Set("NativeProcessGroup", ctor);
  exports.Set("connectProcessGroup", Napi::Function::New(env, Connect, "connectProcessGroup"));
  exports.Set("distributedInfo", Napi::Function::New(env, Info, "distributedInfo"));
}

}  // namespace torchloop::napi
