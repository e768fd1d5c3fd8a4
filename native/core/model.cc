#include "model.h"

#include <caffe2/serialize/read_adapter_interface.h>
#include <strings.h>
#include <torch/csrc/jit/runtime/operator.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <algorithm>
#include <cstring>
#include <dlfcn.h>
#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <sstream>

#include "errors.h"
#include "package.h"
#include "runtime.h"
#include "validate.h"

namespace torchloop {

namespace {

// Which PyTorch saved an archive, as far as its records tell: some exporters write
// extra/torch_version; PyTorch 2.1 and later write byteorder and .data/serialization_id.
std::string saverOf(const ArchiveInfo& archive, const std::string& raw) {
  if (const ArchiveRecord* r = archive.find("extra/torch_version")) {
    std::string v = raw.substr(r->offset, std::min<uint64_t>(r->size, 40));
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ')) v.pop_back();
    return "PyTorch " + v;
  }
  if (archive.has("byteorder") || archive.has(".data/serialization_id")) return "PyTorch 2.1 or later";
  return "PyTorch 2.0 or earlier";
}

std::string unknownOperator(const std::string& op, const std::string& where, const std::string& saver) {
  std::string ns = op.substr(0, op.find("::"));
  if (!isLibtorchNamespace(ns)) {
    // An operator of another library (torchvision::nms, deepmd::border_op, my_ops::...): the
    // library that registers it is not loaded; the libtorch version is not the cause.
    std::string hint;
    if (ns == "torchvision") hint = " (torchvision's operators are in torchvision/_C.so of a torchvision built for this libtorch)";
    else if (ns == "torchaudio") hint = " (torchaudio's are in torchaudio/lib/libtorchaudio.so)";
    return "it calls " + op + where + ", an operator of the library that registers the '" + ns +
           "' namespace, which is not loaded" + hint + ". Load that library first, as torch.ops.load_library does in "
           "Python: loadLibrary('/path/to/lib" + ns + ".so') before Model.load.";
  }
  return "it calls " + op + where + ", an operator that libtorch " TORCH_VERSION " does not have; the file was saved by " + saver +
         ". Run it with a libtorch at least as new as the PyTorch that saved it (torchloop's default build uses libtorch "
         "2.x; or set LIBTORCH=/path/to/libtorch and rebuild), or save the model again from a PyTorch that matches "
         "libtorch " TORCH_VERSION ".";
}

// Inflates with the miniz inside libtorch (the library that reads the archive afterwards).
Inflate libtorchInflate() {
  using Fn = size_t (*)(void*, size_t, const void*, size_t, int);
  static const Fn tinfl = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "tinfl_decompress_mem_to_mem"));
  if (!tinfl) return nullptr;
  return [](void* out, size_t outLen, const void* in, size_t inLen) -> size_t { return tinfl(out, outLen, in, inLen, 0); };
}

// What a file is, before libtorch reads it: not an archive at all, a damaged or malformed
// archive (the validator's finding), a torch.save file rather than torch.jit.save, or a module
// calling operators this libtorch lacks. Returns the reason to refuse it, or "" to go on.
std::string examine(const std::string& raw, ArchiveInfo& archive) {
  if (raw.size() < 4 || raw.compare(0, 2, "PK") != 0) {
    if (raw.size() >= 2 && static_cast<unsigned char>(raw[0]) == 0x80) {
      return "it is a legacy pickle written by torch.save (not a TorchScript archive). "
             "Export the module with torch.jit.script(model).save(path).";
    }
    return "it is not a TorchScript archive (a .pt file is a zip archive starting with 'PK'). "
           "Export the module with torch.jit.script(model).save(path).";
  }
  try {
    archive = readArchive(raw.data(), raw.size());
  } catch (const LegacyArchive&) {
    return "it is a TorchScript archive of the legacy format version 1 (model.json), written by PyTorch 1.0 "
           "to 1.3, which libtorch no longer reads. Convert it: load it with torch.jit.load in a PyTorch that "
           "still reads that format (1.4 to 1.9) and save it again with torch.jit.save, or script the model again "
           "and save it from a current PyTorch.";
  } catch (const ValidationError& e) {
    return "the zip archive is damaged or truncated (" + e.describe() + "). Copy or save the file again.";
  }
  bool hasCode = false;
  for (const auto& r : archive.records) hasCode = hasCode || r.name.rfind("code/", 0) == 0;
  if (archive.has("data.pkl") && !hasCode && !archive.has("constants.pkl")) {
    return "it was written by torch.save (a state_dict or a pickled object), not by "
           "torch.jit.save. Export the module with torch.jit.script(model).save(path); to "
           "load weights into an existing module, load that module and import the state dict.";
  }
  try {
    archive = validateArchive(raw.data(), raw.size(), libtorchInflate());
  } catch (const ValidationError& e) {
    if (e.record().empty()) return "the zip archive is damaged or truncated (" + e.describe() + "). Copy or save the file again.";
    return "it is not a well-formed TorchScript archive: " + e.describe() + ". The file is damaged, or was not written by torch.jit.save.";
  }
  // An operator this libtorch lacks is the mark of a newer PyTorch. Found here, before
  // libtorch's compiler runs (a failed compile leaks its partial classes inside libtorch).
  for (const auto& [op, where] : archive.calledOps) {
    if (torch::jit::getAllOperatorsFor(c10::Symbol::fromQualString(op)).empty()) {
      return unknownOperator(op, " at " + where, saverOf(archive, raw));
    }
  }
  return "";
}

// Why libtorch refused an archive that passed the checks.
std::string diagnose(const std::string& raw, const ArchiveInfo& archive, const std::string& libtorchMessage) {
  std::smatch m;
  static const std::regex unknownOp("Unknown builtin op: ([A-Za-z0-9_:.]+?)\\.?\\s");
  if (std::regex_search(libtorchMessage, m, unknownOp)) {
    std::string where;
    std::smatch at;
    if (std::regex_search(libtorchMessage, at, std::regex("File \"([^\"]+)\", line (\\d+)"))) where = " at " + at[1].str() + ":" + at[2].str();
    return unknownOperator(m[1].str(), where, saverOf(archive, raw));
  }
  return "the archive is a TorchScript module (saved by " + saverOf(archive, raw) + ") that libtorch " TORCH_VERSION
         " cannot read: " + libtorchMessage;
}

}  // namespace

c10::Device parseDevice(const std::string& device) {
  c10::Device parsed(c10::kCPU);
  try {
    parsed = c10::Device(device.empty() ? std::string("cpu") : device);
  } catch (const std::exception&) {
    throw Error(Code::Device, "Expected 'cpu', 'cuda' or 'cuda:N' for device but received '" + device + "'");
  }
  if (parsed.is_cuda()) {
    if (!torch::cuda::is_available()) {
      throw Error(Code::Device,
                  "CUDA was asked for (device '" + device + "') but this libtorch (" TORCH_VERSION
                  ") has no CUDA support or no GPU is visible. Use device 'cpu', or build "
                  "torchloop against a CUDA libtorch (LIBTORCH=/path/to/libtorch-cuda).");
    }
    auto count = static_cast<int>(torch::cuda::device_count());
    if (parsed.has_index() && parsed.index() >= count) {
      throw Error(Code::Device, "device '" + device + "' does not exist: " + std::to_string(count) +
                                    " CUDA device(s) visible");
    }
  } else if (!parsed.is_cpu()) {
    throw Error(Code::Device, "Expected 'cpu', 'cuda' or 'cuda:N' for device but received '" + device + "'");
  }
  return parsed;
}

ModelCore::ModelCore(torch::jit::Module module, c10::Device device)
    : module_(std::move(module)), device_(device) {
  module_.eval();
}

ModelCore::ModelCore(std::shared_ptr<Package> package, size_t bytes, c10::Device device)
    : module_("__torch__.torchloop.Package"), package_(std::move(package)), packageBytes_(bytes), device_(device) {}

void ModelCore::requireTorchScript(const char* what) const {
  if (package_) {
    throw Error(Code::Unsupported, std::string("An AOTInductor package (.pt2) cannot ") + what +
                                       ": it is compiled for inference, with its weights folded in. Do it on the TorchScript "
                                       "file (or the Python module) and compile the package again.");
  }
}

torch::jit::Module& ModelCore::module(const char* what) {
  requireTorchScript(what);
  return module_;
}

namespace {
// libtorch reads the archive from torchloop's checked copy, through this adapter (no second copy).
class BufferAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BufferAdapter(const std::string& data) : data_(data) {}
  size_t size() const override { return data_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* what = "") const override {
    if (pos >= data_.size()) return 0;
    n = std::min<uint64_t>(n, data_.size() - pos);
    std::memcpy(buf, data_.data() + pos, n);
    return n;
  }

 private:
  const std::string& data_;
};

// libtorch unpickles .debug_pkl records (source ranges for its tracebacks) without checking
// their indices, and torchloop's messages never show those ranges: the renamed entries are
// ones libtorch does not find. The last letter of each name becomes '~', in the central
// directory and in the local header alike.
void hideDebugRecords(std::string& raw, const ArchiveInfo& archive) {
  for (const auto& r : archive.records) {
    const std::string& n = r.name;
    if (n.size() < 10 || strcasecmp(n.c_str() + n.size() - 10, ".debug_pkl") != 0) continue;
    const size_t last = archive.prefix.size() + n.size() - 1;
    for (uint64_t at : r.nameAt) raw[at + last] = '~';
  }
}
}  // namespace

std::shared_ptr<ModelCore> ModelCore::loadFrom(std::string raw, const std::string& origin, const std::string& device) {
  c10::Device dev = parseDevice(device);
  if (Package::looksLikePackage(raw)) {
    std::shared_ptr<Package> package = Package::load(raw, origin, dev);
    return std::shared_ptr<ModelCore>(new ModelCore(std::move(package), raw.size(), dev));
  }
  ArchiveInfo archive;
  std::string refused = examine(raw, archive);
  if (!refused.empty()) throw Error(Code::ModelLoad, "Cannot load " + origin + ": " + refused);
  hideDebugRecords(raw, archive);
  try {
    // torchloop's own records (a trainer's state) travel as extra files in the archive.
    torch::jit::ExtraFilesMap extra{{"torchloop/optimizer.pt", ""}, {"torchloop/trainer.json", ""}};
    auto module = torch::jit::load(std::make_shared<BufferAdapter>(raw), dev, extra);
    auto core = std::shared_ptr<ModelCore>(new ModelCore(std::move(module), dev));
    for (auto& [k, v] : extra) if (!v.empty()) core->extraFiles_[k] = v;
    return core;
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(Code::ModelLoad, "Cannot load " + origin + ": " + diagnose(raw, archive, messageOf(e)));
  }
}

std::shared_ptr<ModelCore> ModelCore::loadFile(const std::string& path, const std::string& device) {
  // What the path names, before reading: a path with a NUL would be cut short by the C
  // library (loading another file), and a device or a FIFO would be read without end.
  if (path.find('\0') != std::string::npos) throw Error(Code::Argument, "Expected a path without NUL characters for the model");
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error(Code::ModelLoad, "Cannot load '" + path + "': no such file or it cannot be read");
  if (S_ISDIR(st.st_mode)) throw Error(Code::ModelLoad, "Cannot load '" + path + "': it is a directory, not a file");
  if (!S_ISREG(st.st_mode)) throw Error(Code::ModelLoad, "Cannot load '" + path + "': it is not a regular file (a device, a FIFO or a socket)");
  std::ifstream file(path, std::ios::binary);
  if (!file) throw Error(Code::ModelLoad, "Cannot load '" + path + "': the file cannot be read");
  std::string raw(static_cast<size_t>(st.st_size), '\0');
  file.read(raw.data(), static_cast<std::streamsize>(raw.size()));
  raw.resize(static_cast<size_t>(file.gcount()));
  if (raw.empty()) throw Error(Code::ModelLoad, "Cannot load '" + path + "': the file is empty");
  return loadFrom(std::move(raw), "'" + path + "'", device);
}

std::shared_ptr<ModelCore> ModelCore::loadBuffer(const char* data, size_t size, const std::string& device) {
  if (size == 0) throw Error(Code::ModelLoad, "Cannot load the model from a buffer: the buffer is empty");
  return loadFrom(std::string(data, size), "the model from a buffer", device);
}

std::vector<std::string> ModelCore::methods() const {
  if (package_) return {"forward"};
  std::vector<std::string> names;
  for (const auto& m : module_.get_methods()) names.push_back(m.name());
  return names;
}

bool ModelCore::hasMethod(const std::string& name) const {
  if (package_) return name == "forward";
  return module_.find_method(name).has_value();
}

MethodSignature ModelCore::signature(const std::string& name) const {
  if (package_) {
    if (name != "forward") throw Error(Code::NotFound, "The model has no method '" + name + "' (it has: forward)");
    MethodSignature sig;
    sig.name = name;
    for (const auto& in : package_->inputs()) sig.arguments.push_back({in.name, "Tensor", c10::TensorType::get(), false, {}});
    if (!package_->tupleResult()) {
      sig.returnType = "Tensor";
    } else {
      sig.returnType = "Tuple[";
      for (size_t i = 0; i < package_->outputCount(); ++i) sig.returnType += i ? ", Tensor" : "Tensor";
      sig.returnType += "]";
    }
    return sig;
  }
  auto method = module_.find_method(name);
  if (!method) {
    std::string known;
    for (const auto& m : methods()) known += (known.empty() ? "" : ", ") + m;
    throw Error(Code::NotFound, "The model has no method '" + name + "' (it has: " + known + ")");
  }
  const auto& schema = method->function().getSchema();
  MethodSignature sig;
  sig.name = name;
  const auto& args = schema.arguments();
  for (size_t i = 1; i < args.size(); ++i) {  // skip self
    ArgumentInfo info;
    info.name = args[i].name();
    info.typePtr = args[i].type();
    info.type = info.typePtr->annotation_str();
    if (args[i].default_value()) {
      info.hasDefault = true;
      info.defaultValue = *args[i].default_value();
    }
    sig.arguments.push_back(std::move(info));
  }
  const auto& rets = schema.returns();
  if (rets.size() == 1) sig.returnType = rets[0].type()->annotation_str();
  else {
    sig.returnType = "Tuple[";
    for (size_t i = 0; i < rets.size(); ++i) sig.returnType += (i ? ", " : "") + rets[i].type()->annotation_str();
    sig.returnType += "]";
  }
  return sig;
}

c10::IValue ModelCore::run(const std::string& name, std::vector<c10::IValue> args) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (package_) {
    if (name != "forward") throw Error(Code::NotFound, "The model has no method '" + name + "'");
    std::vector<at::Tensor> tensors;
    for (auto& a : args) {
      if (!a.isTensor()) throw Error(Code::Argument, "Expected tensors for the arguments of a package's forward()");
      tensors.push_back(device_.is_cpu() ? a.toTensor() : a.toTensor().to(device_));
    }
    auto outs = package_->run(tensors);
    if (!package_->tupleResult() && outs.size() == 1) return outs[0];
    return c10::ivalue::Tuple::create(std::vector<c10::IValue>(outs.begin(), outs.end()));
  }
  auto method = module_.find_method(name);
  if (!method) throw Error(Code::NotFound, "The model has no method '" + name + "'");
  if (!device_.is_cpu()) {
    for (auto& a : args) {
      if (a.isTensor()) a = a.toTensor().to(device_);
    }
  }
  NoGradScope scope(*this);
  try {
    return (*method)(std::move(args));
  } catch (const std::exception& e) {
    throw classify(e, Code::Runtime, name + "() failed");
  }
}

ModelCore::NoGradScope::NoGradScope(const ModelCore& m) {
  if (m.training_ || m.gradEnabled_) return;
  if (m.trained_) noGrad_.emplace();
  else inference_.emplace(true);
}

std::vector<std::pair<std::string, at::Tensor>> ModelCore::parameters() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  if (package_) return out;  // folded into the compiled code
  for (const auto& p : module_.named_parameters(true)) out.emplace_back(p.name, p.value);
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> ModelCore::buffers() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  if (package_) return out;
  for (const auto& p : module_.named_buffers(true)) out.emplace_back(p.name, p.value);
  return out;
}

void ModelCore::setTraining(bool training) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (package_) {
    if (training) requireTorchScript("be trained");
    return;
  }
  training_ = training;
  if (training) module_.train();
  else module_.eval();
}

const std::string& ModelCore::extraFile(const std::string& name) const {
  static const std::string none;
  auto it = extraFiles_.find(name);
  return it == extraFiles_.end() ? none : it->second;
}

std::shared_ptr<ModelCore> ModelCore::compile(const std::string& source, const std::vector<std::pair<std::string, at::Tensor>>& parameters,
                                              const std::vector<std::pair<std::string, at::Tensor>>& buffers) {
  // libtorch's parser recurses once per nesting level: a deep enough source overflows the stack.
  try {
    validateSource(source, "the source");
  } catch (const ValidationError& e) {
    throw Error(Code::Argument, "The TorchScript source is not accepted: " + std::string(e.what()) + " (line " + std::to_string(e.offset()) + ")");
  }
  torch::jit::Module module("__torch__.torchloop.Compiled");
  for (const auto& [name, t] : parameters) module.register_parameter(name, t.detach().clone().set_requires_grad(true), false);
  for (const auto& [name, t] : buffers) module.register_buffer(name, t.detach().clone());
  try {
    module.define(source);
  } catch (const std::exception& e) {
    throw Error(Code::Argument, "The TorchScript source does not compile: " + messageOf(e));
  }
  return std::shared_ptr<ModelCore>(new ModelCore(std::move(module), c10::Device(c10::kCPU)));
}

void ModelCore::loadStateDict(const std::vector<std::pair<std::string, at::Tensor>>& tensors, bool strict) {
  std::lock_guard<std::mutex> lock(mutex_);
  requireTorchScript("load a state dict");
  std::unordered_map<std::string, at::Tensor> targets;
  for (const auto& p : module_.named_parameters(true)) targets[p.name] = p.value;
  for (const auto& b : module_.named_buffers(true)) targets[b.name] = b.value;
  torch::NoGradGuard noGrad;
  for (const auto& [name, t] : tensors) {
    auto it = targets.find(name);
    if (it == targets.end()) {
      if (!strict) continue;
      std::string known;
      for (const auto& [k, v] : targets) known += (known.empty() ? "" : ", ") + k;
      throw Error(Code::Argument, "The model has no parameter or buffer '" + name + "' (it has: " + known + ")");
    }
    if (it->second.sizes() != t.sizes()) {
      std::ostringstream os;
      os << "Expected shape " << it->second.sizes() << " for '" << name << "' but received " << t.sizes();
      throw Error(Code::Shape, os.str());
    }
    it->second.copy_(t);
  }
  if (strict && tensors.size() < targets.size()) {
    for (const auto& [name, t] : targets) {
      bool given = false;
      for (const auto& p : tensors) given = given || p.first == name;
      if (!given) throw Error(Code::Argument, "The state dict has no entry for '" + name + "' (pass { strict: false } to load a part)");
    }
  }
}

void ModelCore::save(const std::string& path, const std::unordered_map<std::string, std::string>& extraFiles) const {
  std::lock_guard<std::mutex> lock(mutex_);
  requireTorchScript("be saved as TorchScript (copy the .pt2 file instead)");
  try {
    module_.save(path, extraFiles);
  } catch (const std::exception& e) {
    throw classify(e, Code::Runtime, "Cannot save the model to '" + path + "'");
  }
}

void ModelCore::checkNotDisposed(const char* what) const {
  if (disposed_.load(std::memory_order_relaxed)) throw Error(Code::Disposed, std::string("The model of this ") + what + " has been disposed");
}

size_t ModelCore::parameterBytes() const {
  if (package_) return packageBytes_;
  size_t bytes = 0;
  for (const auto& p : module_.named_parameters(true)) bytes += p.value.nbytes();
  for (const auto& p : module_.named_buffers(true)) bytes += p.value.nbytes();
  return bytes;
}

}  // namespace torchloop
