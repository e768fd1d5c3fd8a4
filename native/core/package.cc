#include "package.h"

#include <cpuid.h>
#include <sys/utsname.h>
#include <torch/version.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "errors.h"
#include "validate.h"

#if __has_include(<torch/csrc/inductor/aoti_package/model_package_loader.h>) && TORCH_VERSION_MAJOR >= 2
#define TORCHLOOP_AOTI 1
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#endif

namespace torchloop {

namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && s[i] == ' ') ++i;
  return s.substr(i);
}

bool cpuHas(const std::string& feature) {
  __builtin_cpu_init();
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (feature == "avx2") return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (feature == "avx512") {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw");
  }
  if (feature == "avx512_vnni") return __builtin_cpu_supports("avx512vnni");
  if (feature == "amx_tile") return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (d & (1u << 24));  // CPUID.7.0:EDX[24]
  return false;
}

at::ScalarType dtypeNamed(const std::string& name) {
  static const std::unordered_map<std::string, at::ScalarType> names{
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
      {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},  {"int8", at::kChar},
      {"uint8", at::kByte},    {"bool", at::kBool}};
  auto it = names.find(name);
  if (it == names.end()) throw Error(Code::ModelLoad, "the package records an input of dtype '" + name + "', which torchloop does not know");
  return it->second;
}

// torchloop compile's record of the inputs: json.dumps of [{"name", "shape", "dtype"}].
std::vector<PackageTensor> parseInputs(const std::string& json) {
  std::vector<PackageTensor> out;
  static const std::regex item(R"re(\{"name": "([^"\\]*)", "shape": \[([0-9, ]*)\], "dtype": "([a-z0-9]+)"\})re");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), item); it != std::sregex_iterator(); ++it) {
    PackageTensor t;
    t.name = (*it)[1];
    std::stringstream dims((*it)[2].str());
    std::string d;
    while (std::getline(dims, d, ',')) {
      d = trim(d);
      if (!d.empty()) t.shape.push_back(std::stoll(d));
    }
    t.dtype = dtypeNamed((*it)[3]);
    out.push_back(std::move(t));
  }
  return out;
}

// The number of leaves of a pytree spec (torch.utils._pytree's JSON: a leaf is "type": null)
// and whether its root is a leaf.
size_t leavesOf(const std::string& spec, bool* rootIsLeaf) {
  size_t n = 0;
  for (size_t at = spec.find("\"type\": null"); at != std::string::npos; at = spec.find("\"type\": null", at + 1)) ++n;
  if (rootIsLeaf) {
    size_t first = spec.find("\"type\": ");
    *rootIsLeaf = first != std::string::npos && spec.compare(first, 12, "\"type\": null") == 0;
  }
  return n;
}

std::string shapeString(at::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// A private copy of the checked bytes, removed when the package is loaded (or not).
class TempCopy {
 public:
  explicit TempCopy(const std::string& raw) {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/torchloop-pt2-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw Error(Code::ModelLoad, "cannot make a temporary folder for the package under " + tmpl);
    dir_ = buf.data();
    path_ = dir_ + "/package.pt2";
    std::ofstream f(path_, std::ios::binary);
    f.write(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (!f) throw Error(Code::ModelLoad, "cannot write the package's temporary copy in " + dir_);
  }
  ~TempCopy() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_, path_;
};

}  // namespace

std::vector<std::string> Package::missingInstructions(const std::string& isa) {
  std::vector<std::string> missing;
  std::stringstream words(isa);
  std::string w;
  while (words >> w) {
    std::string lowerW;
    for (char c : w) lowerW += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lowerW == "invalid" || lowerW == "vec" || lowerW == "isa") continue;  // "INVALID VEC ISA": scalar code
    if (!cpuHas(lowerW)) missing.push_back(w);
  }
  return missing;
}

bool Package::looksLikePackage(const std::string& raw) {
  if (raw.size() < 4 || raw.compare(0, 2, "PK") != 0) return false;
  // The record's name appears in the central directory near the end, and in its local header.
  return raw.find("/archive_format") != std::string::npos && raw.find("/data/aotinductor/") != std::string::npos;
}

#ifdef TORCHLOOP_AOTI

struct Package::Impl {
  std::unique_ptr<torch::inductor::AOTIModelPackageLoader> loader;
  // The buffers forward writes (the package's own tensors, aliased), and a saved copy.
  std::vector<at::Tensor> state, saved;
};

bool Package::supported(std::string* why) { return true; }

Package::~Package() = default;

std::unique_ptr<Package> Package::load(const std::string& raw, const std::string& origin, const c10::Device& device) {
  auto refuse = [&](const std::string& why) -> Error { return Error(Code::ModelLoad, "Cannot load " + origin + ": " + why); };
  ArchiveInfo archive;
  try {
    archive = readPackage(raw.data(), raw.size());
  } catch (const ValidationError& e) {
    throw refuse("it is not a well-formed PT2 package: " + e.describe() + ". The file is damaged, or was not written by "
                 "torch._inductor.aoti_compile_and_package.");
  }
  // The model's folder: data/aotinductor/<name>/ ("model" unless the package holds several).
  std::string modelName;
  for (const auto& r : archive.records) {
    if (r.name.rfind("data/aotinductor/", 0) != 0) continue;
    std::string rest = r.name.substr(17);
    std::string name = rest.substr(0, rest.find('/'));
    if (name == "model" || modelName.empty()) modelName = name;
  }
  if (modelName.empty()) {
    throw refuse("the package holds no AOTInductor model (no data/aotinductor/ folder). A PT2 archive saved by torch.export.save "
                 "holds an ExportedProgram, which needs Python; compile it with torch._inductor.aoti_compile_and_package, or "
                 "`torchloop compile`.");
  }
  bool hasLibrary = false;
  for (const auto& r : archive.records) {
    hasLibrary = hasLibrary || (r.name.rfind("data/aotinductor/" + modelName + "/", 0) == 0 && r.name.size() > 3 &&
                                r.name.compare(r.name.size() - 3, 3, ".so") == 0);
  }
  if (!hasLibrary) {
    throw refuse("the package holds no compiled library for model '" + modelName + "' (it may have been compiled with "
                 "aot_inductor.package_cpp_only; build it, or compile it again without that option)");
  }

  TempCopy copy(raw);
  auto pkg = std::unique_ptr<Package>(new Package());
  try {
    pkg->metadata_ = torch::inductor::AOTIModelPackageLoader::load_metadata_from_package(copy.path(), modelName);
  } catch (const std::exception& e) {
    throw refuse("its metadata cannot be read: " + messageOf(e));
  }
  auto meta = [&](const char* key) -> std::string {
    auto it = pkg->metadata_.find(key);
    return it == pkg->metadata_.end() ? std::string() : trim(it->second);
  };
  // Built for this machine? Checked before any of the package's code is loaded.
  struct utsname u {};
  ::uname(&u);
  const std::string platform = meta("AOTI_PLATFORM"), machine = meta("AOTI_MACHINE");
  if (!platform.empty() && platform != "linux") throw refuse("the package was compiled for " + platform + ", not Linux. Compile it on this machine.");
  if (!machine.empty() && machine != u.machine) {
    throw refuse("the package was compiled for " + machine + " CPUs, and this one is " + std::string(u.machine) + ". Compile it on this machine.");
  }
  const std::string deviceKey = meta("AOTI_DEVICE_KEY");
  const std::string wanted = device.is_cuda() ? "cuda" : "cpu";
  if (!deviceKey.empty() && deviceKey != wanted) {
    throw Error(Code::Device, "Cannot load " + origin + " on device '" + device.str() + "': the package was compiled for '" + deviceKey +
                                  "'. Load it with { device: '" + deviceKey + "' }, or compile it for " + wanted + ".");
  }
  if (deviceKey == "cpu" || deviceKey.empty()) {
    auto missing = missingInstructions(meta("AOTI_CPU_ISA"));
    if (!missing.empty()) {
      std::string list;
      for (const auto& m : missing) list += (list.empty() ? "" : ", ") + m;
      throw refuse("the package was compiled for a CPU with " + meta("AOTI_CPU_ISA") + " (AOTInductor builds with -march=native), and "
                   "this CPU lacks " + list + "; running it would stop the process on an illegal instruction. Compile it again "
                   "on this machine (torchloop compile), or on one with the same instruction sets.");
    }
  }
  // torchloop compile records the PyTorch it used; a newer one than this libtorch may call
  // entry points this libtorch lacks.
  const std::string made = meta("torchloop.torch_version");
  if (!made.empty()) {
    int major = 0, minor = 0;
    if (std::sscanf(made.c_str(), "%d.%d", &major, &minor) == 2 &&
        (major > TORCH_VERSION_MAJOR || (major == TORCH_VERSION_MAJOR && minor > TORCH_VERSION_MINOR))) {
      throw refuse("the package was compiled by PyTorch " + made + ", newer than this libtorch (" TORCH_VERSION
                   "). Compile it with PyTorch " + std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                   " (torchloop compile --python /path/to/python), or build torchloop against a libtorch at least as new.");
    }
  }
  // Without torchloop's record of the inputs, the package's own runtime checks guard them:
  // AOTInductor reads this variable once, at a package's first run.
  const std::string inputs = meta("torchloop.inputs");
  if (inputs.empty()) ::setenv("AOTI_RUNTIME_CHECK_INPUTS", "1", 0);
  pkg->impl_ = std::make_unique<Impl>();
  try {
    pkg->impl_->loader = std::make_unique<torch::inductor::AOTIModelPackageLoader>(
        copy.path(), modelName, /*run_single_threaded=*/true, /*num_runners=*/1, device.is_cuda() ? device.index() : -1);
  } catch (const std::exception& e) {
    throw refuse("libtorch " TORCH_VERSION "'s AOTInductor loader refused it" + (made.empty() ? std::string() : " (compiled by PyTorch " + made + ")") +
                 ": " + messageOf(e) + ". A package must be compiled by a PyTorch no newer than the libtorch that runs it.");
  }
  // State the package keeps in its own buffers, by the names torchloop compile recorded.
  const std::string state = meta("torchloop.state");
  if (!state.empty()) {
    auto constants = pkg->impl_->loader->get_runner()->extract_constants_map(/*use_inactive=*/false);
    std::stringstream names(state);
    std::string name;
    while (std::getline(names, name, ',')) {
      auto it = constants.find(trim(name));
      if (it == constants.end()) throw refuse("its recorded state buffer '" + name + "' is not among its constants");
      pkg->impl_->state.push_back(it->second);
    }
  }
  std::vector<std::string> spec;
  try {
    spec = pkg->impl_->loader->get_call_spec();
  } catch (const std::exception&) {
  }
  size_t specInputs = 0;
  if (spec.size() == 2) {
    specInputs = leavesOf(spec[0], nullptr);
    bool single = true;
    pkg->outputCount_ = leavesOf(spec[1], &single);
    pkg->tupleResult_ = !single;
  }
  if (!inputs.empty()) {
    pkg->inputs_ = parseInputs(inputs);
    pkg->shapesKnown_ = true;
    if (specInputs && pkg->inputs_.size() != specInputs) {
      throw refuse("its recorded inputs (" + std::to_string(pkg->inputs_.size()) + ") do not match its call spec (" +
                   std::to_string(specInputs) + " tensors)");
    }
  } else {
    for (size_t i = 0; i < specInputs; ++i) pkg->inputs_.push_back({"input" + std::to_string(i), {}, at::kFloat});
  }
  return pkg;
}

bool Package::stateful() const { return impl_ && !impl_->state.empty(); }

void Package::saveState() {
  impl_->saved.clear();
  for (const auto& t : impl_->state) impl_->saved.push_back(t.clone());
}

void Package::restoreState() {
  for (size_t i = 0; i < impl_->saved.size() && i < impl_->state.size(); ++i) impl_->state[i].copy_(impl_->saved[i]);
}

void Package::check(const std::vector<at::Tensor>& inputs) const {
  if (inputs.size() != inputs_.size()) {
    throw Error(Code::Argument, "Expected " + std::to_string(inputs_.size()) + " tensor argument(s) for forward() but received " +
                                    std::to_string(inputs.size()));
  }
  if (!shapesKnown_) return;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto& want = inputs_[i];
    if (inputs[i].scalar_type() != want.dtype) {
      throw Error(Code::Dtype, "Expected " + std::string(c10::toString(want.dtype)) + " for input '" + want.name + "' of forward() but received " +
                                   c10::toString(inputs[i].scalar_type()) + " (the package was compiled for it)");
    }
    if (inputs[i].sizes() != at::IntArrayRef(want.shape)) {
      throw Error(Code::Shape, "Expected shape " + shapeString(want.shape) + " for input '" + want.name + "' of forward() but received " +
                                   shapeString(inputs[i].sizes()) + " (the package was compiled for that shape; compile it again for another)");
    }
  }
}

std::vector<at::Tensor> Package::run(const std::vector<at::Tensor>& inputs) {
  check(inputs);
  std::vector<at::Tensor> contiguous;
  contiguous.reserve(inputs.size());
  for (const auto& t : inputs) contiguous.push_back(t.contiguous());
  return runUnchecked(contiguous);
}

std::vector<at::Tensor> Package::runUnchecked(const std::vector<at::Tensor>& inputs) {
  try {
    return impl_->loader->run(inputs);
  } catch (const std::exception& e) {
    throw classify(e, Code::Runtime, "forward() failed");
  }
}

#else  // libtorch without AOTInductor (1.13)

struct Package::Impl {};

bool Package::supported(std::string* why) {
  if (why) *why = "this build uses libtorch " TORCH_VERSION ", which has no AOTInductor (PyTorch 2.2 and later load .pt2 packages)";
  return false;
}

Package::~Package() = default;

std::unique_ptr<Package> Package::load(const std::string&, const std::string& origin, const c10::Device&) {
  std::string why;
  supported(&why);
  throw Error(Code::Unsupported, "Cannot load " + origin + ": it is an AOTInductor package (.pt2), and " + why +
                                     ". Build torchloop against libtorch 2.x, or load the TorchScript file.");
}

void Package::check(const std::vector<at::Tensor>&) const {}
bool Package::stateful() const { return false; }
void Package::saveState() {}
void Package::restoreState() {}
std::vector<at::Tensor> Package::run(const std::vector<at::Tensor>&) { return {}; }
std::vector<at::Tensor> Package::runUnchecked(const std::vector<at::Tensor>&) { return {}; }

#endif

}  // namespace torchloop
