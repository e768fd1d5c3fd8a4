#include "model_wrap.h"

#include "core/package.h"

#include <malloc.h>

#include "convert.h"
#include "core/runtime.h"
#include "errors.h"
#include "instance.h"
#include "step_wrap.h"
#include "trainer_wrap.h"

namespace torchloop::napi {

namespace {

std::string deviceArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return "cpu";
  if (!info[i].IsString()) throw Error(Code::Argument, "Expected a string for device but received " + describeJs(info[i]));
  return info[i].As<Napi::String>().Utf8Value();
}

std::string stringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) {
    throw Error(Code::Argument, std::string("Expected a string for ") + what + " but received " +
                                    (info.Length() <= i ? std::string("nothing") : describeJs(info[i])));
  }
  return info[i].As<Napi::String>().Utf8Value();
}

// Loads off the JavaScript thread; the file or a copy of the buffer is owned by the worker.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, std::string path, std::string bytes, bool fromBuffer, std::string device)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)),
        bytes_(std::move(bytes)), fromBuffer_(fromBuffer), device_(std::move(device)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      adoptThreadSettings();
      core_ = fromBuffer_ ? ModelCore::loadBuffer(bytes_.data(), bytes_.size(), device_) : ModelCore::loadFile(path_, device_);
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      Error err = classify(e, Code::ModelLoad, "Cannot load the model");
      code_ = err.code();
      SetError(err.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(ModelWrap::Create(env, core_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(makeError(Env(), code_, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_, bytes_;
  bool fromBuffer_;
  std::string device_;
  std::shared_ptr<ModelCore> core_;
  Code code_ = Code::ModelLoad;
};

// Runs a method off the JavaScript thread. It holds the model core (a dispose() meanwhile
// only drops the JS side's share), the JS object, and copies of its inputs.
class CallWorker : public Napi::AsyncWorker {
 public:
  CallWorker(Napi::Env env, Napi::Object self, std::shared_ptr<ModelCore> core, std::string method,
             std::vector<c10::IValue> args)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), self_(Napi::Persistent(self)),
        core_(std::move(core)), method_(std::move(method)), args_(std::move(args)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      adoptThreadSettings();
      result_ = core_->run(method_, std::move(args_));
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      Error err = classify(e, Code::Runtime, method_ + "() failed");
      code_ = err.code();
      SetError(err.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(boundary(env, [&] { return fromIValue(env, result_); }));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
    result_ = c10::IValue();
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(makeError(Env(), code_, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  std::shared_ptr<ModelCore> core_;
  std::string method_;
  std::vector<c10::IValue> args_;
  c10::IValue result_;
  Code code_ = Code::Runtime;
};

}  // namespace

Napi::Function ModelWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeModel",
                     {
                         StaticMethod<&ModelWrap::LoadSync>("loadSync"),
                         StaticMethod<&ModelWrap::Load>("load"),
                         InstanceMethod<&ModelWrap::Methods>("methods"),
                         InstanceMethod<&ModelWrap::Signature>("signature"),
                         InstanceMethod<&ModelWrap::CallSync>("callSync"),
                         InstanceMethod<&ModelWrap::Call>("call"),
                         InstanceMethod<&ModelWrap::Parameters>("parameters"),
                         InstanceMethod<&ModelWrap::Buffers>("buffers"),
                         InstanceMethod<&ModelWrap::SetTraining>("setTraining"),
                         InstanceMethod<&ModelWrap::Training>("training"),
                         InstanceMethod<&ModelWrap::SetGradEnabled>("setGradEnabled"),
                         InstanceMethod<&ModelWrap::GradEnabled>("gradEnabled"),
                         InstanceMethod<&ModelWrap::Save>("save"),
                         InstanceMethod<&ModelWrap::Device>("device"),
                         InstanceMethod<&ModelWrap::PackageInfo>("packageInfo"),
                         InstanceMethod<&ModelWrap::Dispose>("dispose"),
                         InstanceMethod<&ModelWrap::Disposed>("disposed"),
                         InstanceMethod<&ModelWrap::CreateStep>("createStep"),
                         InstanceMethod<&ModelWrap::CreateTrainer>("createTrainer"),
                         InstanceMethod<&ModelWrap::LoadStateDict>("loadStateDict"),
                         StaticMethod<&ModelWrap::Compile>("compile"),
                     });
}

Napi::Object ModelWrap::Create(Napi::Env env, std::shared_ptr<ModelCore> core) {
  auto* holder = new std::shared_ptr<ModelCore>(std::move(core));
  auto ext = Napi::External<std::shared_ptr<ModelCore>>::New(env, holder, [](Napi::Env, std::shared_ptr<ModelCore>* h) { delete h; });
  return instance(env).model.New({ext});
}

ModelWrap::ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
  if (info.Length() != 1 || !info[0].IsExternal()) {
    throw makeError(info.Env(), Code::Argument, "NativeModel is created by Model.load() or Model.loadSync()");
  }
  // Take the holder's share, not a copy: the External lives until a GC, and dispose() must
  // free the module at once.
  core_ = std::move(*info[0].As<Napi::External<std::shared_ptr<ModelCore>>>().Data());
  externalBytes_ = static_cast<int64_t>(core_->parameterBytes());
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), externalBytes_);
}

ModelWrap::~ModelWrap() {
  if (core_ && externalBytes_) Napi::MemoryManagement::AdjustExternalMemory(Env(), -externalBytes_);
}

void ModelWrap::release(Napi::Env env) {
  if (!core_) return;
  core_->markDisposed();
  const bool last = core_.use_count() == 1;
  core_.reset();
  // glibc keeps a freed module's memory in its heap (its mmap threshold rises after the first
  // large free, so parameters land in the heap, fragmented by what was allocated around
  // them): trim, so that dispose() gives the memory back to the system at once.
  if (last) malloc_trim(0);
  signatures_.clear();
  Napi::MemoryManagement::AdjustExternalMemory(env, -externalBytes_);
  externalBytes_ = 0;
}

std::shared_ptr<ModelCore> ModelWrap::core(Napi::Env env) const {
  if (!core_) throw Error(Code::Disposed, "The model has been disposed");
  return core_;
}

const MethodSignature& ModelWrap::signatureOf(const std::string& method) {
  auto it = signatures_.find(method);
  if (it == signatures_.end()) it = signatures_.emplace(method, core_->signature(method)).first;
  return it->second;
}

Napi::Value ModelWrap::LoadSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    std::string device = deviceArg(info, 1);
    if (info.Length() > 0 && info[0].IsBuffer()) {
      auto buf = info[0].As<Napi::Buffer<char>>();
      return Create(env, ModelCore::loadBuffer(buf.Data(), buf.Length(), device));
    }
    return Create(env, ModelCore::loadFile(stringArg(info, 0, "the model path"), device));
  });
}

Napi::Value ModelWrap::Load(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    std::string device = deviceArg(info, 1);
    LoadWorker* worker;
    if (info.Length() > 0 && info[0].IsBuffer()) {
      auto buf = info[0].As<Napi::Buffer<char>>();
      worker = new LoadWorker(env, "", std::string(buf.Data(), buf.Length()), true, device);
    } else {
      worker = new LoadWorker(env, stringArg(info, 0, "the model path"), "", false, device);
    }
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  });
}

Napi::Value ModelWrap::Methods(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto names = core(env)->methods();
    Napi::Array a = Napi::Array::New(env, names.size());
    for (size_t i = 0; i < names.size(); ++i) a.Set(static_cast<uint32_t>(i), names[i]);
    return a;
  });
}

Napi::Value ModelWrap::Signature(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    core(env);
    const auto& sig = signatureOf(stringArg(info, 0, "the method name"));
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", sig.name);
    Napi::Array args = Napi::Array::New(env, sig.arguments.size());
    for (size_t i = 0; i < sig.arguments.size(); ++i) {
      Napi::Object a = Napi::Object::New(env);
      a.Set("name", sig.arguments[i].name);
      a.Set("type", sig.arguments[i].type);
      a.Set("hasDefault", sig.arguments[i].hasDefault);
      if (sig.arguments[i].hasDefault) {
        try {
          a.Set("default", fromIValue(env, sig.arguments[i].defaultValue));
        } catch (const std::exception&) {
          // A default that cannot be shown in JavaScript stays out; the call still uses it.
        }
      }
      args.Set(static_cast<uint32_t>(i), a);
    }
    o.Set("arguments", args);
    o.Set("returns", sig.returnType);
    return o;
  });
}

Napi::Value ModelWrap::CallSync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto c = core(env);
    std::string method = stringArg(info, 0, "the method name");
    if (info.Length() < 2 || !info[1].IsArray()) throw Error(Code::Argument, "Expected an array of arguments");
    InputPolicy keep;
    auto args = argumentsFromJs(info[1].As<Napi::Array>(), signatureOf(method), keep);
    c10::IValue result = c->run(method, std::move(args));
    return fromIValue(env, result);
  });
}

Napi::Value ModelWrap::Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto c = core(env);
    std::string method = stringArg(info, 0, "the method name");
    if (info.Length() < 2 || !info[1].IsArray()) throw Error(Code::Argument, "Expected an array of arguments");
    InputPolicy keep;
    keep.copy = true;
    auto args = argumentsFromJs(info[1].As<Napi::Array>(), signatureOf(method), keep);
    auto* worker = new CallWorker(env, info.This().As<Napi::Object>(), c, method, std::move(args));
    Napi::Promise p = worker->promise();
    worker->Queue();
    return p;
  });
}

namespace {
Napi::Value namedTensors(Napi::Env env, const std::vector<std::pair<std::string, at::Tensor>>& items) {
  Napi::Object o = Napi::Object::New(env);
  // Copies: a parameter's memory belongs to the module.
  for (const auto& [name, t] : items) o.Set(name, tensorToJs(env, t, false));
  return o;
}
}  // namespace

Napi::Value ModelWrap::Parameters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value { return namedTensors(env, core(env)->parameters()); });
}

Napi::Value ModelWrap::Buffers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value { return namedTensors(env, core(env)->buffers()); });
}

Napi::Value ModelWrap::SetTraining(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    core(env)->setTraining(info.Length() > 0 && info[0].ToBoolean().Value());
    return env.Undefined();
  });
}

Napi::Value ModelWrap::Training(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value { return Napi::Boolean::New(env, core(env)->training()); });
}

Napi::Value ModelWrap::SetGradEnabled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    core(env)->setGradEnabled(info.Length() > 0 && info[0].ToBoolean().Value());
    return env.Undefined();
  });
}

Napi::Value ModelWrap::GradEnabled(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value { return Napi::Boolean::New(env, core(env)->gradEnabled()); });
}

Napi::Value ModelWrap::Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    core(env)->save(stringArg(info, 0, "the path"));
    return env.Undefined();
  });
}

Napi::Value ModelWrap::Device(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value { return Napi::String::New(env, core(env)->device().str()); });
}

// null for TorchScript; for an AOTInductor package its inputs (as compiled) and metadata.
Napi::Value ModelWrap::PackageInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    Package* pkg = core(env)->package();
    if (!pkg) return env.Null();
    Napi::Object out = Napi::Object::New(env);
    Napi::Array inputs = Napi::Array::New(env, pkg->inputs().size());
    for (size_t i = 0; i < pkg->inputs().size(); ++i) {
      const auto& t = pkg->inputs()[i];
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", t.name);
      if (pkg->shapesKnown()) {
        Napi::Array shape = Napi::Array::New(env, t.shape.size());
        for (size_t k = 0; k < t.shape.size(); ++k) shape.Set(static_cast<uint32_t>(k), Napi::Number::New(env, static_cast<double>(t.shape[k])));
        o.Set("shape", shape);
        std::string dtype = c10::toString(t.dtype);
        static const std::unordered_map<std::string, std::string> names{{"Float", "float32"}, {"Double", "float64"}, {"Long", "int64"},
                                                                        {"Int", "int32"}, {"Bool", "bool"}, {"Half", "float16"},
                                                                        {"BFloat16", "bfloat16"}, {"Byte", "uint8"}, {"Char", "int8"}, {"Short", "int16"}};
        auto it = names.find(dtype);
        o.Set("dtype", it == names.end() ? dtype : it->second);
      }
      inputs.Set(static_cast<uint32_t>(i), o);
    }
    out.Set("inputs", inputs);
    out.Set("outputs", Napi::Number::New(env, static_cast<double>(pkg->outputCount())));
    Napi::Object meta = Napi::Object::New(env);
    for (const auto& [k, v] : pkg->metadata()) meta.Set(k, v);
    out.Set("metadata", meta);
    return out;
  });
}

Napi::Value ModelWrap::Dispose(const Napi::CallbackInfo& info) {
  release(info.Env());
  return info.Env().Undefined();
}

Napi::Value ModelWrap::Disposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !core_); }

namespace {
// A step argument from JavaScript: {shape, dtype[, fromDouble]} a tensor input; {tuple: [...]};
// {dict: [[key, spec], ...]}; {value} a constant, converted as the argument's type says.
ArgSpec argSpecFromJs(const Napi::Value& v, const c10::TypePtr& type, const std::string& what) {
  if (!v.IsObject()) throw Error(Code::Argument, "Expected a step input spec for " + what + " but received " + describeJs(v));
  Napi::Object o = v.As<Napi::Object>();
  ArgSpec a;
  c10::TypePtr t = type;
  if (auto opt = t->cast<c10::OptionalType>(); opt && !o.Has("value")) t = opt->getElementType();
  if (o.Has("value")) {
    a.kind = ArgSpec::Kind::Constant;
    a.value = toIValue(o.Get("value"), type, what, InputPolicy{true});
  } else if (o.Has("tuple")) {
    a.kind = ArgSpec::Kind::Tuple;
    auto tuple = t->cast<c10::TupleType>();
    if (!tuple) throw Error(Code::Argument, "Expected " + t->annotation_str() + " for " + what + " but the step was given a tuple of inputs");
    Napi::Array elems = o.Get("tuple").As<Napi::Array>();
    if (elems.Length() != tuple->elements().size()) {
      throw Error(Code::Argument, what + " is a tuple of " + std::to_string(tuple->elements().size()) + " but the step was given " +
                                      std::to_string(elems.Length()) + " inputs for it");
    }
    for (uint32_t i = 0; i < elems.Length(); ++i) a.elements.push_back(argSpecFromJs(elems.Get(i), tuple->elements()[i], what + "[" + std::to_string(i) + "]"));
  } else if (o.Has("dict")) {
    a.kind = ArgSpec::Kind::Dict;
    auto dict = t->cast<c10::DictType>();
    if (!dict) throw Error(Code::Argument, "Expected " + t->annotation_str() + " for " + what + " but the step was given a dict of inputs");
    Napi::Array entries = o.Get("dict").As<Napi::Array>();
    for (uint32_t i = 0; i < entries.Length(); ++i) {
      Napi::Array kv = entries.Get(i).As<Napi::Array>();
      a.keys.push_back(kv.Get(0u).As<Napi::String>().Utf8Value());
      a.elements.push_back(argSpecFromJs(kv.Get(1u), dict->getValueType(), what + "['" + a.keys.back() + "']"));
    }
  } else {
    Napi::Array shape = o.Get("shape").As<Napi::Array>();
    for (uint32_t d = 0; d < shape.Length(); ++d) {
      Napi::Value dim = shape.Get(d);
      double x = dim.IsNumber() ? dim.As<Napi::Number>().DoubleValue() : -1;
      if (!(x >= 0 && x <= 1e12 && x == std::floor(x))) throw Error(Code::Argument, "Expected a shape of non-negative integers for " + what + " but received " + describeJs(dim));
      a.tensor.shape.push_back(static_cast<int64_t>(x));
    }
    a.tensor.dtype = parseDtype(o.Get("dtype").As<Napi::String>().Utf8Value());
    a.tensor.fromDouble = o.Get("fromDouble").ToBoolean().Value();
  }
  return a;
}
}  // namespace

Napi::Value ModelWrap::CreateStep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto c = core(env);
    std::string method = stringArg(info, 0, "the method name");
    if (info.Length() < 2 || !info[1].IsArray()) throw Error(Code::Argument, "Expected an array of input specs");
    if (!c->hasMethod(method)) throw Error(Code::NotFound, "The model has no method '" + method + "'");
    auto sig = c->signature(method);
    Napi::Array specs = info[1].As<Napi::Array>();
    if (specs.Length() > sig.arguments.size()) {
      throw Error(Code::Argument, "Expected at most " + std::to_string(sig.arguments.size()) + " argument(s) for " + method +
                                      "() but the step was given " + std::to_string(specs.Length()));
    }
    std::vector<ArgSpec> args;
    for (uint32_t i = 0; i < specs.Length(); ++i) {
      args.push_back(argSpecFromJs(specs.Get(i), sig.arguments[i].typePtr, "argument " + std::to_string(i) + " ('" + sig.arguments[i].name + "') of " + method + "()"));
    }
    StepOptions options;
    if (info.Length() > 2 && info[2].IsObject()) {
      Napi::Value plan = info[2].As<Napi::Object>().Get("plan");
      if (plan.IsBoolean()) options.usePlan = plan.As<Napi::Boolean>().Value();
    }
    return StepWrap::Create(env, std::make_shared<StepRunner>(c, method, std::move(args), options));
  });
}

}  // namespace torchloop::napi

namespace torchloop::napi {

namespace {
std::vector<std::pair<std::string, at::Tensor>> namedTensorsFromJs(const Napi::Value& v, const char* what, InputPolicy keep) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsObject() || v.IsArray()) throw Error(Code::Argument, std::string("Expected an object of name -> Tensor for ") + what + " but received " + describeJs(v));
  Napi::Object o = v.As<Napi::Object>();
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string name = keys.Get(i).ToString().Utf8Value();
    out.emplace_back(name, tensorFromJs(o.Get(name), std::string(what) + " '" + name + "'", keep));
  }
  return out;
}
}  // namespace

Napi::Value ModelWrap::CreateTrainer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto c = core(env);
    TrainerConfig config = info.Length() > 0 && info[0].IsObject() ? trainerConfigFromJs(info[0].As<Napi::Object>()) : TrainerConfig();
    bool resume = !(info.Length() > 1 && info[1].IsBoolean() && !info[1].As<Napi::Boolean>().Value());
    auto trainer = std::make_shared<Trainer>(c, config);
    bool restored = resume && trainer->restore();
    return TrainerWrap::Create(env, trainer, restored);
  });
}

Napi::Value ModelWrap::LoadStateDict(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    InputPolicy keep;
    auto tensors = namedTensorsFromJs(info.Length() > 0 ? info[0] : env.Undefined(), "the state dict", keep);
    bool strict = !(info.Length() > 1 && info[1].IsBoolean() && !info[1].As<Napi::Boolean>().Value());
    core(env)->loadStateDict(tensors, strict);
    return env.Undefined();
  });
}

Napi::Value ModelWrap::Compile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) throw Error(Code::Argument, "Expected TorchScript source text for compile");
    InputPolicy keep;
    auto params = namedTensorsFromJs(info.Length() > 1 ? info[1] : env.Undefined(), "parameters", keep);
    auto buffers = namedTensorsFromJs(info.Length() > 2 ? info[2] : env.Undefined(), "buffers", keep);
    return Create(env, ModelCore::compile(info[0].As<Napi::String>().Utf8Value(), params, buffers));
  });
}

}  // namespace torchloop::napi
