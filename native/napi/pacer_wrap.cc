// NativePacer (lib/realtime/control-loop.ts): the ControlLoop's clock, run in its worker
// thread. Its stats live in SharedArrayBuffer views the main thread reads while it runs.
//   new NativePacer(hz, spinUs, 'skip' | 'catch-up', meta: Float64Array, jitter, compute, period: Int32Array)
//   wait() -> tick        sleeps to the next deadline (no JS value allocated: ticks are small ints)
//   done()                the tick's work is done
//   loopStep(step, n)     the C++ floor: n ticks of a NativeStep paced here, no JavaScript
// applyRealtime(priority, cpu, lockMemory) -> string[]   for the calling thread
#include <napi.h>

#include <memory>

#include "core/pacer.h"
#include "convert.h"
#include "errors.h"
#include "step_wrap.h"

namespace torchloop::napi {

namespace {

class PacerWrap : public Napi::ObjectWrap<PacerWrap> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativePacer", {
        InstanceMethod<&PacerWrap::Wait>("wait"),
        InstanceMethod<&PacerWrap::Done>("done"),
        InstanceMethod<&PacerWrap::LoopStep>("loopStep"),
    });
  }

  explicit PacerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacerWrap>(info) {
    Napi::Env env = info.Env();
    boundary(env, [&] {
      const double hz = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
      if (!(hz > 0 && hz <= 100000)) throw Error(Code::Argument, "Expected a rate in Hz between 0 and 100000 but received " + describeJs(info[0]));
      const double spinUs = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : 50;
      if (!(spinUs >= 0 && spinUs <= 10000)) throw Error(Code::Argument, "Expected a spin time in µs between 0 and 10000 but received " + describeJs(info[1]));
      const std::string policy = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
      if (policy != "skip" && policy != "catch-up") throw Error(Code::Argument, "Expected the overrun policy 'skip' or 'catch-up' but received " + describeJs(info[2]));
      auto f64 = [&](size_t i, size_t n) {
        if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array || info[i].As<Napi::TypedArray>().ElementLength() < n) {
          throw Error(Code::Argument, "Expected a Float64Array of " + std::to_string(n) + " for the pacer's stats");
        }
        refs_.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
        return info[i].As<Napi::Float64Array>().Data();
      };
      auto i32 = [&](size_t i) {
        const size_t n = static_cast<size_t>(histogramBuckets());
        if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array || info[i].As<Napi::TypedArray>().ElementLength() != n) {
          throw Error(Code::Argument, "Expected an Int32Array of " + std::to_string(n) + " for a pacer histogram");
        }
        refs_.push_back(Napi::Persistent(info[i].As<Napi::Object>()));
        return info[i].As<Napi::Int32Array>().Data();
      };
      PacerMemory mem{f64(3, kMetaSlots), i32(4), i32(5), i32(6)};
      pacer_ = std::make_unique<Pacer>(hz, spinUs, policy == "skip" ? Pacer::Policy::Skip : Pacer::Policy::CatchUp, mem);
      return 0;
    });
  }

 private:
  Napi::Value Wait(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(pacer_->wait()));
  }
  Napi::Value Done(const Napi::CallbackInfo& info) {
    pacer_->done();
    return info.Env().Undefined();
  }
  // The floor: the same pacing and the same native step as a ControlLoop tick, with no JS.
  Napi::Value LoopStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return boundary(env, [&]() -> Napi::Value {
      auto h = StepWrap::handleOf(env, info[0]);
      if (!h) throw Error(Code::Argument, "Expected a NativeStep (entity.nativeStep) but received " + describeJs(info[0]));
      const double n = info[1].IsNumber() ? info[1].As<Napi::Number>().DoubleValue() : -1;
      if (!(n >= 0 && n <= 1e12)) throw Error(Code::Argument, "Expected a tick count but received " + describeJs(info[1]));
      for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) {
        pacer_->wait();
        StepWrap::runNative(*h);
        pacer_->done();
      }
      return env.Undefined();
    });
  }

  std::unique_ptr<Pacer> pacer_;
  std::vector<Napi::ObjectReference> refs_;  // keeps the stats memory alive
};

Napi::Value ApplyRealtimeJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return boundary(env, [&]() -> Napi::Value {
    const int priority = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
    const int cpu = info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : -1;
    const bool lock = info[2].ToBoolean().Value();
    if (priority < 0 || priority > 99) throw Error(Code::Argument, "Expected a SCHED_FIFO priority from 1 to 99 but received " + std::to_string(priority));
    auto lines = applyRealtime(priority, cpu, lock);
    Napi::Array out = Napi::Array::New(env, lines.size());
    for (size_t i = 0; i < lines.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::String::New(env, lines[i]));
    return out;
  });
}

}  // namespace

void initPacer(Napi::Env env, Napi::Object exports) {
  exports.Set("NativePacer", PacerWrap::Init(env));
  exports.Set("applyRealtime", Napi::Function::New(env, ApplyRealtimeJs));
  exports.Set("pacerBuckets", Napi::Number::New(env, static_cast<double>(histogramBuckets())));
  exports.Set("pacerSlots", Napi::Number::New(env, static_cast<double>(kMetaSlots)));
}

}  // namespace torchloop::napi
