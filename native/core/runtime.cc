#include "runtime.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <mutex>

#include "errors.h"

namespace torchloop {

namespace {
using SetThreadsFn = void (*)(int);
SetThreadsFn openblasSetThreads() {
  static SetThreadsFn fn = reinterpret_cast<SetThreadsFn>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
  return fn;
}
}  // namespace

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
  info.libtorch = TORCH_VERSION;
  info.cudaAvailable = torch::cuda::is_available();
  info.cudaDeviceCount = info.cudaAvailable ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.numThreads = at::get_num_threads();
  info.numInteropThreads = at::get_num_interop_threads();
  info.blas = openblasSetThreads() ? "openblas" : "other";
  return info;
}

void setNumThreads(int n) {
  if (n < 1) throw Error(Code::Argument, "Expected a positive integer for threads but received " + std::to_string(n));
  at::set_num_threads(n);
  if (auto fn = openblasSetThreads()) fn(n);
}

void applyRealtimeDefaults() {
  static std::once_flag once;
  std::call_once(once, [] {
    at::set_num_threads(1);
    try {
      at::set_num_interop_threads(1);
    } catch (const std::exception&) {
      // Already fixed by an earlier user of libtorch in this process; keep theirs.
    }
    if (auto fn = openblasSetThreads()) fn(1);
  });
}

void adoptThreadSettings() { at::init_num_threads(); }

}  // namespace torchloop
