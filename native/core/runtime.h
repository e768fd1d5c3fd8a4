// Process-wide libtorch settings: versions, thread counts, CUDA availability.
#pragma once
#include <string>

namespace torchloop {

struct RuntimeInfo {
  std::string libtorch;    // the headers compiled against, e.g. "2.13.0"
  std::string loadedLibtorch;  // the libtorch_cpu this process runs, from its own build settings
  std::string libtorchPath;    // where that libtorch_cpu was loaded from
  std::string builtAgainst;    // "libtorch 2.13.0 in /path/to/lib" (recorded at build time)
  std::string cpuCapability;   // ATen's vectorised kernels: "AVX512", "AVX2", "DEFAULT"
  bool cudaAvailable;
  int cudaDeviceCount;
  int numThreads;
  int numInteropThreads;
  std::string blas;        // the BLAS and the kernels it picked, e.g. "OpenBLAS 0.3.21 (Haswell kernels)"
};

RuntimeInfo runtimeInfo();

// Checks that the libtorch this process loaded is the one the addon was compiled against
// (major.minor). Returns an empty string when it is, or what is wrong.
std::string linkedLibtorchMismatch();

// Sets libtorch's intra-op threads and, where OpenBLAS is the BLAS, its own pool too; from 1
// to maxThreads().
void setNumThreads(int n);
int maxThreads();

// The realtime defaults: one intra-op thread, one OpenBLAS thread. Called once per process.
void applyRealtimeDefaults();

// Threads created outside libtorch (worker pools) must adopt the configured count.
void adoptThreadSettings();

}  // namespace torchloop
