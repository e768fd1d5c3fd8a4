// Process-wide libtorch settings: versions, thread counts, CUDA availability.
#pragma once
#include <string>
#include <vector>

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

// Loads a shared library that registers TorchScript operators (TORCH_LIBRARY), as
// torch.ops.load_library does: dlopen with RTLD_GLOBAL, so models loaded afterwards find its
// operators. Returns the operators it registered ("my_ops::scale_add"); loading a library
// twice is harmless (the second time registers nothing new).
std::vector<std::string> loadLibrary(const std::string& path);

// Namespaces of operators libtorch itself registers: a missing operator there means the
// file comes from a newer PyTorch; any other namespace is a library's (torchvision::, ...).
bool isLibtorchNamespace(const std::string& ns);

}  // namespace torchloop
