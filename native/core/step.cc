#include "step.h"

#include <algorithm>
#include <chrono>
#include <functional>

#include <torch/csrc/jit/ir/alias_analysis.h>
#include <torch/csrc/jit/passes/inliner.h>
#include <torch/cuda.h>

#include "errors.h"
#include "executor.h"
#include "package.h"

namespace torchloop {

namespace {
using Clock = std::chrono::steady_clock;

// The median run time of an executor: at least 5 runs, more while under 2 ms in all.
double medianUs(const std::function<void()>& run) {
  std::vector<double> us;
  const auto start = Clock::now();
  for (int i = 0; i < 50 && (i < 5 || Clock::now() - start < std::chrono::milliseconds(2)); ++i) {
    const auto t0 = Clock::now();
    run();
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

// An executor run with oneDNN turned off in ATen: libtorch 2.x sends an LSTM (and some
// convolutions) to oneDNN, which at batch 1 is slower than ATen's own kernels (Unitree g1:
// 61.6 -> 25.3 µs per call in PyTorch 2.13). The switch is process-wide for the length of
// a run: a model stepping meanwhile on another thread may take the other kernels for that
// run, with the same results. Kept only where timing says it is faster.
class WithoutOneDnn final : public Executor {
 public:
  explicit WithoutOneDnn(std::unique_ptr<Executor> inner) : inner_(std::move(inner)) {}
  void run() override {
    auto& ctx = at::globalContext();
    const bool was = ctx.userEnabledMkldnn();
    ctx.setUserEnabledMkldnn(false);
    try {
      inner_->run();
    } catch (...) {
      ctx.setUserEnabledMkldnn(was);
      throw;
    }
    ctx.setUserEnabledMkldnn(was);
  }
  std::string describe() const override { return inner_->describe() + " with oneDNN off"; }

 private:
  std::unique_ptr<Executor> inner_;
};

std::string fmtUs(double us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, us < 100 ? "%.1f" : "%.0f", us);
  return buf;
}
}  // namespace

namespace {
std::vector<ArgSpec> tensorArgs(std::vector<TensorSpec> inputs) {
  std::vector<ArgSpec> args;
  for (auto& t : inputs) args.push_back(ArgSpec::of(std::move(t)));
  return args;
}

// Checks an argument spec against the method's declared type; `where` names it in errors.
void checkArg(const ArgSpec& a, const c10::TypePtr& type, const std::string& where) {
  using K = ArgSpec::Kind;
  c10::TypePtr t = type;
  if (auto opt = t->cast<c10::OptionalType>(); opt && a.kind != K::Constant) t = opt->getElementType();
  auto fail = [&](const std::string& what) {
    throw Error(Code::Argument, "Expected " + t->annotation_str() + " for " + where + " but the step was given " + what);
  };
  switch (a.kind) {
    case K::Tensor:
      if (t->kind() != c10::TypeKind::TensorType) fail("a tensor input");
      break;
    case K::Tuple: {
      auto tuple = t->cast<c10::TupleType>();
      if (!tuple) fail("a tuple of inputs");
      if (tuple->elements().size() != a.elements.size()) {
        fail("a tuple of " + std::to_string(a.elements.size()) + " inputs");
      }
      for (size_t i = 0; i < a.elements.size(); ++i) checkArg(a.elements[i], tuple->elements()[i], where + "[" + std::to_string(i) + "]");
      break;
    }
    case K::Dict: {
      auto dict = t->cast<c10::DictType>();
      if (!dict || dict->getKeyType()->kind() != c10::TypeKind::StringType || dict->getValueType()->kind() != c10::TypeKind::TensorType) {
        fail("a dict of tensor inputs");
      }
      break;
    }
    case K::Constant:
      if (!a.value.type()->isSubtypeOf(*type)) fail("a constant " + a.value.type()->annotation_str());
      break;
  }
}

void collectLeaves(const ArgSpec& a, std::vector<const TensorSpec*>& out) {
  if (a.kind == ArgSpec::Kind::Tensor) out.push_back(&a.tensor);
  for (const auto& e : a.elements) collectLeaves(e, out);
}

c10::IValue build(const ArgSpec& a, const std::vector<at::Tensor>& tensors, size_t& next) {
  switch (a.kind) {
    case ArgSpec::Kind::Tensor:
      return tensors[next++];
    case ArgSpec::Kind::Tuple: {
      std::vector<c10::IValue> elems;
      elems.reserve(a.elements.size());
      for (const auto& e : a.elements) elems.push_back(build(e, tensors, next));
      return c10::ivalue::Tuple::create(std::move(elems));
    }
    case ArgSpec::Kind::Dict: {
      // A fresh dict each run: the method may add keys to the one it is given (nequip does).
      c10::Dict<std::string, at::Tensor> d;
      for (size_t i = 0; i < a.elements.size(); ++i) d.insert(a.keys[i], build(a.elements[i], tensors, next).toTensor());
      return d;
    }
    case ArgSpec::Kind::Constant:
      return a.value;
  }
  return {};
}
}  // namespace

StepRunner::StepRunner(std::shared_ptr<ModelCore> model, std::string method, std::vector<TensorSpec> inputs, StepOptions options)
    : StepRunner(std::move(model), std::move(method), tensorArgs(std::move(inputs)), options) {}

StepRunner::StepRunner(std::shared_ptr<ModelCore> model, std::string method, std::vector<ArgSpec> args, StepOptions options)
    : model_(std::move(model)), method_(std::move(method)), options_(options), args_(std::move(args)) {
  if (!model_->hasMethod(method_)) throw Error(Code::NotFound, "The model has no method '" + method_ + "'");
  auto sig = model_->signature(method_);
  size_t required = 0;
  for (const auto& a : sig.arguments) required += a.hasDefault ? 0 : 1;
  if (args_.size() < required || args_.size() > sig.arguments.size()) {
    throw Error(Code::Argument, "Expected " + std::to_string(required) + " argument(s) for " + method_ +
                                    "() but the step was given " + std::to_string(args_.size()));
  }
  for (size_t i = 0; i < args_.size(); ++i) {
    checkArg(args_[i], sig.arguments[i].typePtr, "argument " + std::to_string(i) + " ('" + sig.arguments[i].name + "') of " + method_ + "()");
    plainTensors_ = plainTensors_ && args_[i].kind == ArgSpec::Kind::Tensor;
  }
  // On a GPU the step's own tensors are pinned host memory: copies to and from the device
  // are then asynchronous DMA (and capturable in a CUDA graph).
  const bool pinned = model_->device().is_cuda();
  std::vector<const TensorSpec*> leaves;
  for (const auto& a : args_) collectLeaves(a, leaves);
  for (const TensorSpec* spec : leaves) {
    auto options = at::TensorOptions().dtype(spec->dtype).pinned_memory(pinned);
    at::Tensor t = at::zeros(spec->shape, options);
    modelInputs_.push_back(t);
    if (spec->fromDouble && spec->dtype != at::kDouble) {
      inputs_.push_back(at::zeros(spec->shape, options.dtype(at::kDouble)));
      copies_.emplace_back(inputs_.back(), t);
    } else {
      inputs_.push_back(t);
    }
  }
  // A package's graph is compiled code: nothing to analyse (torch.export functionalises
  // writes into inputs and buffers), but its inputs are fixed when it was compiled.
  if (Package* pkg = model_->package()) {
    pkg->check(modelInputs_);
    stateful_ = pkg->stateful();
  } else {
    analyse();
  }
  prepare();
}

// What the method does with its inputs and its module, read from its graph: whether it writes
// into an input (it then gets copies, so what the caller wrote stays as written), and whether
// it keeps state (reassigns attributes or writes into them).
void StepRunner::analyse() {
  auto graph = model_->module().get_method(method_).graph()->copy();
  torch::jit::Inline(*graph);
  torch::jit::AliasDb aliases(graph);
  // Inputs: alias analysis (conservative: a write to anything an input may alias counts).
  for (size_t i = 1; i < graph->inputs().size(); ++i) {
    if (aliases.hasWriters(graph->inputs()[i])) shield_ = true;
  }
  // State: attributes reassigned, or a write whose target is, through views, an attribute.
  // (Alias analysis would count every write to an input here too: it lets graph inputs,
  // self among them, alias each other.)
  auto origin = [](const torch::jit::Value* v) {
    for (int hops = 0; hops < 1000; ++hops) {
      const torch::jit::Node* n = v->node();
      const c10::FunctionSchema* schema = n->maybeSchema();
      if (!schema || n->inputs().empty() || schema->returns().empty() || !schema->returns()[0].alias_info()) break;
      v = n->input(0);  // a view of its first argument (slice, select, view, ...)
    }
    return v;
  };
  std::function<void(const torch::jit::Block*)> walk = [&](const torch::jit::Block* block) {
    for (const torch::jit::Node* n : block->nodes()) {
      for (const torch::jit::Block* b : n->blocks()) walk(b);  // if/loop bodies
      if (n->kind() == c10::prim::SetAttr) stateful_ = reassignsState_ = true;
      const c10::FunctionSchema* schema = n->maybeSchema();
      if (!schema) continue;
      for (size_t i = 0; i < schema->arguments().size() && i < n->inputs().size(); ++i) {
        const auto* alias = schema->arguments()[i].alias_info();
        if (alias && alias->isWrite() && origin(n->input(i))->node()->kind() == c10::prim::GetAttr) stateful_ = true;
      }
    }
  };
  walk(graph->block());
  if (shield_) {
    for (size_t i = 0; i < modelInputs_.size(); ++i) {
      if (modelInputs_[i].is_same(inputs_[i])) {
        modelInputs_[i] = at::empty(inputs_[i].sizes(), inputs_[i].options().pinned_memory(model_->device().is_cuda()));
        copies_.emplace_back(inputs_[i], modelInputs_[i]);
      }
    }
  }
}

void StepRunner::copyIn() {
  for (auto& [from, to] : copies_) to.copy_(from);
}

std::vector<c10::IValue> StepRunner::arguments() const {
  std::vector<c10::IValue> out;
  size_t next = 0;
  for (const auto& a : args_) out.push_back(build(a, modelInputs_, next));
  return out;
}

void StepRunner::saveState() {
  if (Package* pkg = model_->package()) return pkg->saveState();
  state_.clear();
  torch::NoGradGuard noGrad;
  std::function<void(const c10::intrusive_ptr<c10::ivalue::Object>&)> walk = [&](const c10::intrusive_ptr<c10::ivalue::Object>& obj) {
    for (size_t i = 0; i < obj->slots().size(); ++i) {
      const c10::IValue& v = obj->getSlot(i);
      if (v.isObject()) {
        walk(v.toObject());
      } else {
        state_.push_back({obj, i, v, v.isTensor() ? v.toTensor().clone() : at::Tensor()});
      }
    }
  };
  walk(model_->module()._ivalue());
}

void StepRunner::restoreState() {
  if (Package* pkg = model_->package()) return pkg->restoreState();
  torch::NoGradGuard noGrad;
  for (auto& s : state_) {
    s.object->setSlot(s.slot, s.original);
    if (s.saved.defined()) s.original.toTensor().copy_(s.saved);
  }
  // On a GPU the copies are queued on the current stream; a CUDA graph replays on a stream of
  // its own, so they must be done before the next step.
  if (model_->device().is_cuda()) torch::cuda::synchronize();
}

StepRunner::~StepRunner() = default;

void StepRunner::prepare() {
  std::lock_guard<std::mutex> lock(model_->mutex());
  executor_.reset();
  ModelCore::NoGradScope guard(*model_);
  if (stateful_) saveState();
  copyIn();
  c10::IValue result;
  {
    std::vector<c10::IValue> args = arguments();
    if (!model_->device().is_cpu()) {
      for (auto& a : args) if (a.isTensor()) a = a.toTensor().to(model_->device());
    }
    try {
      if (Package* pkg = model_->package()) {
        std::vector<at::Tensor> tensors;
        for (auto& a : args) tensors.push_back(a.toTensor());
        auto outs = pkg->run(tensors);
        if (!pkg->tupleResult() && outs.size() == 1) result = outs[0];
        else result = c10::ivalue::Tuple::create(std::vector<c10::IValue>(outs.begin(), outs.end()));
      } else {
        result = model_->module().get_method(method_)(std::move(args));
      }
    } catch (const std::exception& e) {
      if (stateful_) restoreState();
      throw classify(e, Code::Runtime, method_ + "() failed");
    }
  }
  std::vector<at::Tensor> results;
  outputNames_.clear();
  flattenTensors(result, results, &outputNames_);
  bool reuse = outputs_.size() == results.size();
  for (size_t i = 0; reuse && i < results.size(); ++i) {
    reuse = outputs_[i].sizes() == results[i].sizes() && outputs_[i].scalar_type() == results[i].scalar_type();
  }
  if (!reuse) {
    outputs_.clear();
    const bool pinned = model_->device().is_cuda();
    for (const auto& r : results) outputs_.push_back(at::empty(r.sizes(), at::TensorOptions().dtype(r.scalar_type()).pinned_memory(pinned)));
  }
  for (size_t i = 0; i < results.size(); ++i) copyInto(outputs_[i], results[i].to(at::kCPU));
  if (!reuse || signalOutputs_.size() != outputs_.size()) {
    signalOutputs_.clear();
    int64Mirrors_.clear();
    for (auto& o : outputs_) {
      if (o.scalar_type() != at::kLong) {
        signalOutputs_.push_back(o);
        continue;
      }
      at::Tensor mirror = at::empty(o.sizes(), at::TensorOptions().dtype(at::kDouble));
      int64Mirrors_.emplace_back(o, mirror);
      signalOutputs_.push_back(mirror);
    }
  }
  if (stateful_) restoreState();
  chooseExecutor();
  if (stateful_) restoreState();
  mirrorOutputs();
}

void StepRunner::mirrorOutputs() {
  for (auto& [from, to] : int64Mirrors_) {
    const int64_t* src = from.data_ptr<int64_t>();
    double* dst = to.data_ptr<double>();
    for (int64_t i = 0, n = from.numel(); i < n; ++i) dst[i] = static_cast<double>(src[i]);
  }
}

void StepRunner::chooseExecutor() {
  std::vector<at::Tensor> expected;
  for (auto& o : outputs_) expected.push_back(o.clone());
  Binding binding{*model_, method_, modelInputs_, outputs_, plainTensors_,
                  [this](torch::jit::Stack& stack) {
                    size_t next = 0;
                    for (const auto& a : args_) stack.push_back(build(a, modelInputs_, next));
                  }};
  struct Candidate {
    std::unique_ptr<Executor> executor;
    std::string name;
    double us = 0;
  };
  std::vector<Candidate> valid;
  std::vector<std::string> why;
  auto consider = [&](const char* name, const std::function<std::unique_ptr<Executor>(const Binding&)>& make) {
    try {
      auto e = make(binding);
      if (stateful_) restoreState();
      copyIn();
      // Outputs the candidate does not write (or writes too late) must not pass as its own.
      for (auto& o : outputs_) o.fill_(o.is_floating_point() ? -12345.0 : 24301);
      e->run();
      for (size_t i = 0; i < outputs_.size(); ++i) {
        if (!at::allclose(outputs_[i], expected[i], 1e-4, 1e-5, /*equal_nan=*/true)) {
          throw std::runtime_error("output " + std::to_string(i) + " differed from the interpreter's");
        }
      }
      valid.push_back({std::move(e), name});
    } catch (const std::exception& e) {
      why.push_back(std::string(name) + ": " + messageOf(e));
    }
  };
  const bool package = model_->package() != nullptr;
  // A package is compiled code with one way to run: the step only feeds it and copies its results.
  if (package) valid.push_back({makePackageRunner(binding), "aoti"});
  else valid.push_back({makeInterpreter(binding), "interpreter"});
  if (!package && at::globalContext().userEnabledMkldnn() && options_.usePlan) {
    consider("interpreter with oneDNN off", [](const Binding& b) -> std::unique_ptr<Executor> { return std::make_unique<WithoutOneDnn>(makeInterpreter(b)); });
  }
  if (package) {
  } else if (!options_.usePlan) {
    why.push_back("plan disabled");
  } else if (model_->gradEnabled()) {
    why.push_back("gradients enabled: the model's own autograd calls need the interpreter");
  } else if (stateful_) {
    // The plan and Static Runtime freeze the module, which would fold its state into
    // constants. A CUDA graph runs the module as it is: state written in place (an LSTM
    // policy's hidden state copied into its buffers) lives at fixed addresses and carries
    // over from replay to replay; state reassigned to new tensors would not.
    why.push_back("the model keeps state between calls");
    if (model_->device().is_cuda()) {
      if (reassignsState_) why.push_back("cuda graph: the model reassigns its state to new tensors (prim::SetAttr)");
      else if (plainTensors_) consider("cuda graph", makeCudaGraph);
      else why.push_back("cuda graph: arguments other than tensors");
    }
  } else {
    if (model_->device().is_cpu()) {
      if (plainTensors_) consider("plan", makePlan);
      else why.push_back("plan: arguments other than tensors");
      consider("static runtime", makeStaticRuntime);
      if (at::globalContext().userEnabledMkldnn()) {
        consider("static runtime with oneDNN off", [](const Binding& b) -> std::unique_ptr<Executor> { return std::make_unique<WithoutOneDnn>(makeStaticRuntime(b)); });
      }
    }
    if (model_->device().is_cuda()) {
      if (plainTensors_) consider("cuda graph", makeCudaGraph);
      else why.push_back("cuda graph: arguments other than tensors");
    }
  }
  size_t best = 0;
  if (!options_.executor.empty()) {
    // One executor was asked for: it runs, or the step says why it cannot.
    auto it = std::find_if(valid.begin(), valid.end(), [&](const Candidate& c) { return c.name == options_.executor; });
    if (it == valid.end()) {
      std::string reasons;
      for (const auto& w : why) {
        if (w.rfind(options_.executor + ":", 0) == 0 || w.find(options_.executor) != std::string::npos) reasons += (reasons.empty() ? "" : "; ") + w;
      }
      throw Error(Code::Runtime, "the step cannot run on the " + options_.executor + ": " +
                                     (reasons.empty() ? std::string("it does not apply to this model or device") : reasons));
    }
    best = static_cast<size_t>(it - valid.begin());
  } else if (valid.size() > 1) {
    for (auto& c : valid) c.us = medianUs([&] { copyIn(); c.executor->run(); });
    for (size_t i = 1; i < valid.size(); ++i) {
      if (valid[i].us < valid[best].us) best = i;
    }
    for (size_t i = 0; i < valid.size(); ++i) {
      if (i != best) why.push_back("faster than " + valid[i].executor->describe() + ": " + fmtUs(valid[best].us) + " vs " + fmtUs(valid[i].us) + " µs");
    }
  }
  executor_ = std::move(valid[best].executor);
  copyIn();
  executor_->run();
  planStatus_ = executor_->describe();
  // Say why the others are not running.
  if (!why.empty()) {
    planStatus_ += " (";
    for (size_t i = 0; i < why.size(); ++i) planStatus_ += (i ? "; " : "") + why[i];
    planStatus_ += ")";
  }
}

void StepRunner::step() {
  model_->checkNotDisposed("step");
  std::lock_guard<std::mutex> lock(model_->mutex());
  auto t0 = Clock::now();
  try {
    ModelCore::NoGradScope guard(*model_);
    copyIn();
    executor_->run();
    mirrorOutputs();
  } catch (const std::exception& e) {
    throw classify(e, Code::Runtime, method_ + "() failed");
  }
  lastRunMs_ = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

void StepRunner::loop(int64_t n, int64_t* durationsNs) {
  for (int64_t i = 0; i < n; ++i) {
    auto t0 = Clock::now();
    step();
    durationsNs[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  }
}

}  // namespace torchloop
