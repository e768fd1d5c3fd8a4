// ModelCore: one loaded module, usable from any thread: a TorchScript archive (.pt, this file
// and model.cc) or an AOTInductor package (.pt2, package.h), behind one interface: methods,
// signatures, run(), steps. What only TorchScript has (parameters to train, save, the graph
// the step executors read) is Error(Unsupported) on a package. It knows nothing of Node; the
// N-API layer (native/napi/model_wrap.*) and the C++ tools sit on top of it.
#pragma once
#include <torch/script.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace torchloop {

class Package;  // package.h

struct ArgumentInfo {
  std::string name;
  std::string type;           // TorchScript annotation, e.g. "Tensor", "List[int]"
  c10::TypePtr typePtr;
  bool hasDefault = false;
  c10::IValue defaultValue;
};

struct MethodSignature {
  std::string name;
  std::vector<ArgumentInfo> arguments;  // without self
  std::string returnType;
};

class ModelCore {
 public:
  // Loads a TorchScript archive. Failures are Error(Code::ModelLoad) with a message that
  // says what the file is (missing, empty, not an archive, a torch.save state_dict, a
  // module from a newer PyTorch) and what to do about it.
  static std::shared_ptr<ModelCore> loadFile(const std::string& path, const std::string& device);
  static std::shared_ptr<ModelCore> loadBuffer(const char* data, size_t size, const std::string& device);

  std::vector<std::string> methods() const;
  bool hasMethod(const std::string& name) const;
  MethodSignature signature(const std::string& name) const;

  // Runs a method. `args` exclude self. Inputs on another device are moved to the model's
  // device. Thread-safe: calls on one model are serialised.
  c10::IValue run(const std::string& method, std::vector<c10::IValue> args);

  std::vector<std::pair<std::string, at::Tensor>> parameters() const;
  std::vector<std::pair<std::string, at::Tensor>> buffers() const;

  void setTraining(bool training);
  bool training() const { return training_; }
  // Saves the module; extra files go into the archive beside it (torch.jit.load ignores them).
  void save(const std::string& path, const std::unordered_map<std::string, std::string>& extraFiles = {}) const;
  // An extra file read at load time (torchloop's own records), or an empty string.
  const std::string& extraFile(const std::string& name) const;

  // Builds a module from TorchScript source with the given parameters and buffers.
  static std::shared_ptr<ModelCore> compile(const std::string& source, const std::vector<std::pair<std::string, at::Tensor>>& parameters,
                                            const std::vector<std::pair<std::string, at::Tensor>>& buffers);
  // Copies named tensors into parameters/buffers (strict: every name must exist with its shape).
  void loadStateDict(const std::vector<std::pair<std::string, at::Tensor>>& tensors, bool strict);

  // The guard for running without gradients: c10::InferenceMode, except for a model that a
  // Trainer has trained in this process, whose TorchScript executor holds differentiable
  // graphs that fail on inference tensors ("cannot be saved for backward"); those get
  // NoGradGuard. In training mode, or with gradients enabled (setGradEnabled), neither.
  class NoGradScope {
   public:
    explicit NoGradScope(const ModelCore& m);
   private:
    c10::optional<c10::InferenceMode> inference_;
    c10::optional<torch::NoGradGuard> noGrad_;
  };
  // Eval with gradients: the model runs in eval mode with autograd on, for a forward() that
  // itself calls torch.autograd.grad (forces from an energy). Off by default.
  void setGradEnabled(bool on) { gradEnabled_ = on; }
  bool gradEnabled() const { return gradEnabled_; }
  void markTrained() { trained_ = true; }
  bool trained() const { return trained_; }
  // Set when the user disposes the model: steps and trainers built on it refuse to run from
  // then on (ERR_DISPOSED), while a call already running finishes.
  void markDisposed() { disposed_ = true; }
  // Throws Error(Code::Disposed) naming `what` once the model has been disposed.
  void checkNotDisposed(const char* what) const;

  const c10::Device& device() const { return device_; }
  size_t parameterBytes() const;
  // The TorchScript module; Error(Unsupported) naming `what` for a package.
  torch::jit::Module& module(const char* what = "run on TorchScript's executors");
  // The AOTInductor package, or null for TorchScript.
  Package* package() const { return package_.get(); }
  std::mutex& mutex() { return mutex_; }

 private:
  ModelCore(torch::jit::Module module, c10::Device device);
  ModelCore(std::shared_ptr<Package> package, size_t bytes, c10::Device device);
  void requireTorchScript(const char* what) const;
  static std::shared_ptr<ModelCore> loadFrom(std::string raw, const std::string& origin, const std::string& device);

  torch::jit::Module module_;
  std::shared_ptr<Package> package_;
  size_t packageBytes_ = 0;
  std::unordered_map<std::string, std::string> extraFiles_;
  c10::Device device_;
  bool training_ = false;
  bool trained_ = false;
  bool gradEnabled_ = false;
  std::atomic<bool> disposed_{false};
  mutable std::mutex mutex_;
};

// Parses "cpu", "cuda", "cuda:N". Asking for CUDA where libtorch has none is an
// Error(Code::Device): torchloop never falls back to the CPU silently.
c10::Device parseDevice(const std::string& device);

}  // namespace torchloop
