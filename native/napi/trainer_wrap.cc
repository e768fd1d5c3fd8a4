#include "trainer_wrap.h"

#include "process_group_wrap.h"

#include "convert.h"
#include "core/runtime.h"
#include "errors.h"
#include "instance.h"

namespace torchloop::napi {

namespace {

class TrainWorker : public Napi::AsyncWorker {
 public:
  TrainWorker(Napi::Env env, Napi::Object self, std::shared_ptr<Trainer> trainer, bool train, std::vector<c10::IValue> inputs,
              c10::IValue target)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), self_(Napi::Persistent(self)), trainer_(std::move(trainer)),
        train_(train), inputs_(std::move(inputs)), target_(std::move(target)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      adoptThreadSettings();
      loss_ = train_ ? trainer_->step(std::move(inputs_), target_) : trainer_->evaluate(std::move(inputs_), target_);
    } catch (const Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::exception& e) {
      Error err = classify(e, Code::Runtime, "training step failed");
      code_ = err.code();
      SetError(err.what());
    }
  }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), loss_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(makeError(Env(), code_, e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  std::shared_ptr<Trainer> trainer_;
  bool train_;
  std::vector<c10::IValue> inputs_;
  c10::IValue target_;
  double loss_ = 0;
  Code code_ = Code::Runtime;
};

}  // namespace

TrainerConfig trainerConfigFromJs(const Napi::Object& o) {
  TrainerConfig c;
  Napi::Array keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    std::string k = keys.Get(i).ToString().Utf8Value();
    Napi::Value v = o.Get(k);
    if (v.IsUndefined()) continue;
    auto num = [&]() {
      if (!v.IsNumber()) throw Error(Code::Argument, "Expected a number for " + k + " but received " + describeJs(v));
      return v.As<Napi::Number>().DoubleValue();
    };
    auto str = [&]() {
      if (!v.IsString()) throw Error(Code::Argument, "Expected a string for " + k + " but received " + describeJs(v));
      return v.As<Napi::String>().Utf8Value();
    };
    auto boolean = [&]() {
      if (!v.IsBoolean()) throw Error(Code::Argument, "Expected a boolean for " + k + " but received " + describeJs(v));
      return v.As<Napi::Boolean>().Value();
    };
    if (k == "optimizer") c.optimizer = str();
    else if (k == "lr") c.lr = num();
    else if (k == "momentum") c.momentum = num();
    else if (k == "nesterov") c.nesterov = boolean();
    else if (k == "dampening") c.dampening = num();
    else if (k == "beta1") c.beta1 = num();
    else if (k == "beta2") c.beta2 = num();
    else if (k == "eps") c.eps = num();
    else if (k == "alpha") c.alpha = num();
    else if (k == "weightDecay") c.weightDecay = num();
    else if (k == "amsgrad") c.amsgrad = boolean();
    else if (k == "loss") c.loss = str();
    else if (k == "lossBeta") c.lossBeta = num();
    else if (k == "method") c.method = str();
    else if (k == "clipNorm") c.clipNorm = num();
    else if (k == "clipValue") c.clipValue = num();
    else if (k == "accumulate") c.accumulate = static_cast<int64_t>(num());
    else if (k == "schedule") c.schedule = str();
    else if (k == "stepSize") c.stepSize = static_cast<int64_t>(num());
    else if (k == "gamma") c.gamma = num();
    else if (k == "tMax") c.tMax = static_cast<int64_t>(num());
    else if (k == "etaMin") c.etaMin = num();
    else if (k == "keepGradients") c.keepGradients = boolean();
    else throw Error(Code::Argument, "Unknown trainer option '" + k + "'");
  }
  validate(c);
  return c;
}

Napi::Function TrainerWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeTrainer",
                     {
                         InstanceMethod<&TrainerWrap::StepSync>("stepSync"),
                         InstanceMethod<&TrainerWrap::Step>("step"),
                         InstanceMethod<&TrainerWrap::EvaluateSync>("evaluateSync"),
                         InstanceMethod<&TrainerWrap::Evaluate>("evaluate"),
                         InstanceMethod<&TrainerWrap::Info>("info"),
                         InstanceMethod<&TrainerWrap::Save>("save"),
                         InstanceMethod<&TrainerWrap::Gradients>("gradients"),
                         InstanceMethod<&TrainerWrap::Attach>("attach"),
                         InstanceMethod<&TrainerWrap::Dispose>("dispose"),
                     });
}

Napi::Object TrainerWrap::Create(Napi::Env env, std::shared_ptr<Trainer> trainer, bool restored) {
  auto* holder = new std::shared_ptr<Trainer>(std::move(trainer));
  auto ext = Napi::External<std::shared_ptr<Trainer>>::New(env, holder, [](Napi::Env, std::shared_ptr<Trainer>* h) { delete h; });
  return instance(env).trainer.New({ext, Napi::Boolean::New(env, restored)});
}

TrainerWrap::TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
  if (info.Length() < 1 || !info[0].IsExternal()) throw makeError(info.Env(), Code::Argument, "NativeTrainer is created by a model");
  trainer_ = std::move(*info[0].As<Napi::External<std::shared_ptr<Trainer>>>().Data());  // not a copy: see ModelWrap
  restored_ = info.Length() > 1 && info[1].ToBoolean().Value();
}

Trainer& TrainerWrap::trainer(Napi::Env env) {
  if (!trainer_) throw Error(Code::Disposed, "The trainer has been disposed");
  return *trainer_;
}

Napi::Value TrainerWrap::run(const Napi::CallbackInfo& info, bool train, bool async) {
  Napi::Env env = info.Env();
  auto& t = trainer(env);
  if (info.Length() < 2 || !info[0].IsArray()) throw Error(Code::Argument, "Expected (inputs: array, target)");
  InputPolicy keep;
  keep.copy = async;
  // The schema of the trained method directs the conversion, as for a call.
  MethodSignature sig = t.modelSignature();
  auto inputs = argumentsFromJs(info[0].As<Napi::Array>(), sig, keep);
  c10::IValue target = tensorFromJs(info[1], "the target", keep);
  if (!async) {
    double loss = train ? t.step(std::move(inputs), target) : t.evaluate(std::move(inputs), target);
    return Napi::Number::New(env, loss);
  }
  auto* worker = new TrainWorker(env, info.This().As<Napi::Object>(), trainer_, train, std::move(inputs), std::move(target));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

Napi::Value TrainerWrap::StepSync(const Napi::CallbackInfo& info) {
  return boundary(info.Env(), [&] { return run(info, true, false); });
}
Napi::Value TrainerWrap::Step(const Napi::CallbackInfo& info) {
  return boundary(info.Env(), [&] { return run(info, true, true); });
}
Napi::Value TrainerWrap::EvaluateSync(const Napi::CallbackInfo& info) {
  return boundary(info.Env(), [&] { return run(info, false, false); });
}
Napi::Value TrainerWrap::Evaluate(const Napi::CallbackInfo& info) {
  return boundary(info.Env(), [&] { return run(info, false, true); });
}

Napi::Value TrainerWrap::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto& t = trainer(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("lr", t.lr());
    o.Set("optimizerSteps", static_cast<double>(t.optimizerSteps()));
    o.Set("microSteps", static_cast<double>(t.microSteps()));
    o.Set("restored", restored_);
    o.Set("config", Napi::String::New(env, toJson(t.config(), t.optimizerSteps(), t.microSteps())));
    return o;
  });
}

Napi::Value TrainerWrap::Save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) throw Error(Code::Argument, "Expected a path for save");
    trainer(env).save(info[0].As<Napi::String>().Utf8Value());
    return env.Undefined();
  });
}

Napi::Value TrainerWrap::Gradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    for (const auto& [name, g] : trainer(env).lastGradients()) o.Set(name, tensorToJs(env, g, true));
    return o;
  });
}

// attach(group, bucketCapBytes) -> string[][]: the buckets, as parameter names.
Napi::Value TrainerWrap::Attach(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto& t = trainer(env);
    auto group = ProcessGroupWrap::From(env, info[0]);
    double cap = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 25.0 * 1024 * 1024;
    if (!(cap >= 1 && cap <= 1e12)) throw Error(Code::Argument, "Expected a positive bucket size in bytes but received " + describeJs(info[1]));
    t.attach(*group, static_cast<int64_t>(cap));
    auto buckets = t.buckets();
    Napi::Array out = Napi::Array::New(env, buckets.size());
    for (size_t i = 0; i < buckets.size(); ++i) {
      Napi::Array b = Napi::Array::New(env, buckets[i].size());
      for (size_t j = 0; j < buckets[i].size(); ++j) b.Set(j, buckets[i][j]);
      out.Set(i, b);
    }
    return out;
  });
}

Napi::Value TrainerWrap::Dispose(const Napi::CallbackInfo& info) {
  trainer_.reset();
  return info.Env().Undefined();
}

}  // namespace torchloop::napi
