#include "step_wrap.h"

#include "convert.h"
#include "errors.h"
#include "instance.h"

namespace torchloop::napi {

Napi::Function StepWrap::Init(Napi::Env env) {
  return DefineClass(env, "NativeStep",
                     {
                         InstanceMethod<&StepWrap::Inputs>("inputs"),
                         InstanceMethod<&StepWrap::Outputs>("outputs"),
                         InstanceMethod<&StepWrap::Stats>("stats"),
                         InstanceMethod<&StepWrap::Step>("step"),
                         InstanceMethod<&StepWrap::Prepare>("prepare"),
                         InstanceMethod<&StepWrap::Loop>("loop"),
                         InstanceMethod<&StepWrap::PlanStatus>("planStatus"),
                         InstanceMethod<&StepWrap::Dispose>("dispose"),
                     });
}

Napi::Object StepWrap::Create(Napi::Env env, std::shared_ptr<StepRunner> runner) {
  auto* holder = new std::shared_ptr<StepRunner>(std::move(runner));
  auto ext = Napi::External<std::shared_ptr<StepRunner>>::New(env, holder, [](Napi::Env, std::shared_ptr<StepRunner>* h) { delete h; });
  return instance(env).step.New({ext});
}

StepWrap::StepWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<StepWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal()) throw makeError(env, Code::Argument, "NativeStep is created by a model");
  runner_ = *info[0].As<Napi::External<std::shared_ptr<StepRunner>>>().Data();
  boundary(env, [&] {
    Napi::Array ins = Napi::Array::New(env, runner_->inputs().size());
    for (size_t i = 0; i < runner_->inputs().size(); ++i) ins.Set(static_cast<uint32_t>(i), exportOwnedTensor(env, runner_->inputs()[i]));
    inputs_ = Napi::Persistent(ins);
    exportOutputs(env);
    stats_ = at::zeros({4}, at::kDouble);
    statsPtr_ = stats_.data_ptr<double>();
    statsView_ = Napi::Persistent(exportOwnedTensor(env, stats_));
    return 0;
  });
}

void StepWrap::exportOutputs(Napi::Env env) {
  Napi::Array outs = Napi::Array::New(env, runner_->outputs().size());
  for (size_t i = 0; i < runner_->outputs().size(); ++i) outs.Set(static_cast<uint32_t>(i), exportOwnedTensor(env, runner_->outputs()[i]));
  outputs_ = Napi::Persistent(outs);
}

StepRunner& StepWrap::runner(Napi::Env env) {
  if (!runner_) throw Error(Code::Disposed, "The step has been disposed");
  return *runner_;
}

Napi::Value StepWrap::Inputs(const Napi::CallbackInfo& info) { return inputs_.Value(); }
Napi::Value StepWrap::Outputs(const Napi::CallbackInfo& info) { return outputs_.Value(); }
Napi::Value StepWrap::Stats(const Napi::CallbackInfo& info) { return statsView_.Value(); }

Napi::Value StepWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // The hot path: no JS values are created unless the step fails.
  if (!runner_) throw makeError(env, Code::Disposed, "The step has been disposed");
  try {
    runner_->step();
  } catch (const Error& e) {
    throw makeError(env, e.code(), e.what());
  } catch (const std::exception& e) {
    Error err = classify(e, Code::Runtime, "");
    throw makeError(env, err.code(), err.what());
  }
  statsPtr_[0] = runner_->lastRunMs();
  statsPtr_[1] += 1;
  return env.Undefined();
}

Napi::Value StepWrap::Prepare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto& r = runner(env);
    std::vector<void*> before;
    for (auto& o : r.outputs()) before.push_back(o.data_ptr());
    r.prepare();
    bool changed = before.size() != r.outputs().size();
    for (size_t i = 0; !changed && i < before.size(); ++i) changed = before[i] != r.outputs()[i].data_ptr();
    if (changed) exportOutputs(env);
    return Napi::Boolean::New(env, changed);
  });
}

Napi::Value StepWrap::Loop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    auto& r = runner(env);
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      throw Error(Code::Argument, "Expected a Float64Array for the durations but received " +
                                      (info.Length() ? describeJs(info[0]) : std::string("nothing")));
    }
    Napi::Float64Array out = info[0].As<Napi::Float64Array>();
    std::vector<int64_t> ns(out.ElementLength());
    r.loop(static_cast<int64_t>(ns.size()), ns.data());
    for (size_t i = 0; i < ns.size(); ++i) out[i] = static_cast<double>(ns[i]) / 1000.0;  // microseconds
    statsPtr_[0] = r.lastRunMs();
    return env.Undefined();
  });
}

Napi::Value StepWrap::PlanStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value { return Napi::String::New(env, runner(env).planStatus()); });
}

Napi::Value StepWrap::Dispose(const Napi::CallbackInfo& info) {
  runner_.reset();
  return info.Env().Undefined();
}

}  // namespace torchloop::napi
