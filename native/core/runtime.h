// Process-wide libtorch settings: versions, thread counts, CUDA availability.
#pragma once
#include <string>

namespace torchloop {

struct RuntimeInfo {
  std::string libtorch;    // e.g. "1.13.1"
  bool cudaAvailable;
  int cudaDeviceCount;
  int numThreads;
  int numInteropThreads;
  std::string blas;        // "openblas" when OpenBLAS's symbols are present
};

RuntimeInfo runtimeInfo();

// Sets libtorch's intra-op threads and, where OpenBLAS is the BLAS, its own pool too.
void setNumThreads(int n);

// The realtime defaults: one intra-op thread, one OpenBLAS thread. Called once per process.
void applyRealtimeDefaults();

// Threads created outside libtorch (worker pools) must adopt the configured count.
void adoptThreadSettings();

}  // namespace torchloop
