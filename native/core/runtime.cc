#include "runtime.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <torch/cuda.h>
#include <torch/version.h>
#include <torch/csrc/jit/runtime/operator.h>

#include <dlfcn.h>

#include <algorithm>
#include <set>
#include <sys/stat.h>
#include <mutex>
#include <thread>
#include <regex>

#include "errors.h"

#ifndef TORCHLOOP_BUILT_AGAINST
#define TORCHLOOP_BUILT_AGAINST "libtorch " TORCH_VERSION
#endif

namespace torchloop {

// Kept in the binary as one string, so lib/native.ts can quote it from the file when the
// addon cannot even be loaded.
extern const char kBuiltAgainst[];
const char kBuiltAgainst[] = "torchloop-built-against: " TORCHLOOP_BUILT_AGAINST;

namespace {
using SetThreadsFn = void (*)(int);
using StringFn = char* (*)();
using MklVersionFn = void (*)(char*, int);

template <typename Fn>
Fn symbol(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, name));
}

SetThreadsFn openblasSetThreads() {
  static SetThreadsFn fn = symbol<SetThreadsFn>("openblas_set_num_threads");
  return fn;
}

std::string configValue(const std::string& config, const std::string& key) {
  std::smatch m;
  std::regex re(key + "=([^,\\s]+)");
  return std::regex_search(config, m, re) ? m[1].str() : "";
}

std::string blasDescription(const std::string& config) {
  if (auto get = symbol<StringFn>("openblas_get_config")) {
    std::string cfg = get();
    std::string core = "?";
    if (auto corename = symbol<StringFn>("openblas_get_corename")) core = corename();
    std::smatch m;
    std::string version = std::regex_search(cfg, m, std::regex("OpenBLAS ([0-9.]+)")) ? m[1].str() : "";
    return "OpenBLAS " + version + " (" + core + " kernels)";
  }
  if (auto get = symbol<MklVersionFn>("MKL_Get_Version_String")) {
    char buf[256] = {0};
    get(buf, sizeof buf - 1);
    std::string v = buf;
    std::smatch m;
    if (std::regex_search(v, m, std::regex("Version ([0-9.]+)"))) v = m[1].str();
    return "MKL " + v;
  }
  std::string info = configValue(config, "BLAS_INFO");
  return info.empty() ? "unknown" : info;
}
}  // namespace

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
  std::string config = at::show_config();
  info.libtorch = TORCH_VERSION;
  info.loadedLibtorch = configValue(config, "TORCH_VERSION");
  Dl_info where{};
  if (dladdr(reinterpret_cast<void*>(&at::show_config), &where) && where.dli_fname) info.libtorchPath = where.dli_fname;
  info.builtAgainst = kBuiltAgainst + sizeof("torchloop-built-against: ") - 1;  // sizeof: no second copy of the marker
  std::smatch m;
  if (std::regex_search(config, m, std::regex("CPU capability usage: (\\w+)"))) info.cpuCapability = m[1].str();
  info.cudaAvailable = torch::cuda::is_available();
  info.cudaDeviceCount = info.cudaAvailable ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.numThreads = at::get_num_threads();
  info.numInteropThreads = at::get_num_interop_threads();
  info.blas = blasDescription(config);
  return info;
}

std::string linkedLibtorchMismatch() {
  std::string loaded = configValue(at::show_config(), "TORCH_VERSION");
  const std::string compiled = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR);
  if (loaded.empty() || loaded.rfind(compiled + ".", 0) == 0 || loaded == compiled) return "";
  Dl_info where{};
  std::string path = dladdr(reinterpret_cast<void*>(&at::show_config), &where) && where.dli_fname ? where.dli_fname : "?";
  return "this addon was compiled against libtorch " TORCH_VERSION " but the process loaded libtorch " + loaded +
         " from " + path;
}

int maxThreads() {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::min(1024, 4 * cores);
}

void setNumThreads(int n) {
  // Thousands of OpenMP threads do not help and take minutes to start: 4 x the CPUs at most.
  if (n < 1 || n > maxThreads()) {
    throw Error(Code::Argument, "Expected an integer from 1 to " + std::to_string(maxThreads()) + " (4 x the CPUs) for threads but received " + std::to_string(n));
  }
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

namespace {
std::set<std::string> operatorNames() {
  std::set<std::string> names;
  for (const auto& op : torch::jit::getAllOperators()) names.insert(op->schema().name());
  return names;
}
}  // namespace

std::vector<std::string> loadLibrary(const std::string& path) {
  if (path.find('\0') != std::string::npos) throw Error(Code::Argument, "Expected a path without NUL characters for the library");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    throw Error(Code::NotFound, "Cannot load the operator library '" + path + "': no such file");
  }
  auto before = operatorNames();
  // RTLD_GLOBAL as torch.ops.load_library: libraries loaded later may use its symbols.
  if (!dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL)) {
    const char* why = dlerror();
    throw Error(Code::Runtime, "Cannot load the operator library '" + path + "': " + (why ? why : "dlopen failed") +
                                   ". It must be built against this libtorch (" TORCH_VERSION "), with the same C++ ABI.");
  }
  std::vector<std::string> added;
  for (const auto& name : operatorNames()) {
    if (!before.count(name)) added.push_back(name);
  }
  return added;
}

bool isLibtorchNamespace(const std::string& ns) {
  static const std::set<std::string> own = {"aten", "prim", "prims", "quantized", "_quantized", "mkldnn", "mkldnn_prepacked",
                                            "onednn", "prepacked", "_caffe2", "profiler", "cuda", "_nnapi", "xnnpack",
                                            "quantized_decomposed", "inductor", "_inductor", "_c10d_functional", "c10d",
                                            "c10d_functional", "_dtensor", "fbgemm", "cudnn", "_test", "sparse", "upsample"};
  return own.count(ns) > 0;
}

}  // namespace torchloop
