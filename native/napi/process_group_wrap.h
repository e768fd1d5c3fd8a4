// The native half of lib/train/distributed.ts's ProcessGroup.
#pragma once
#include <napi.h>

#include <memory>

#include "core/distributed.h"

namespace torchloop::napi {

class ProcessGroupWrap : public Napi::ObjectWrap<ProcessGroupWrap> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit ProcessGroupWrap(const Napi::CallbackInfo& info);
  // The group behind a NativeProcessGroup (ERR_ARGUMENT for anything else, ERR_DISPOSED when disposed).
  static std::shared_ptr<ProcessGroup> From(Napi::Env env, Napi::Value value);

 private:
  Napi::Value Rank(const Napi::CallbackInfo& info);
  Napi::Value WorldSize(const Napi::CallbackInfo& info);
  Napi::Value Allreduce(const Napi::CallbackInfo& info);
  Napi::Value Barrier(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  ProcessGroup& group();

  std::shared_ptr<ProcessGroup> group_;
};

// Registers NativeProcessGroup, connectProcessGroup and distributedInfo.
void initProcessGroup(Napi::Env env, Napi::Object exports);

}  // namespace torchloop::napi
