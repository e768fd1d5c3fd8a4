#include "trainer.h"

#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/nn/utils/clip_grad.h>

#include <cmath>
#include <sstream>

#include "errors.h"

namespace torchloop {

namespace {

constexpr const char* kOptimizerFile = "torchloop/optimizer.pt";
constexpr const char* kTrainerFile = "torchloop/trainer.json";

std::unique_ptr<torch::optim::Optimizer> makeOptimizer(const TrainerConfig& c, const std::vector<at::Tensor>& params) {
  using namespace torch::optim;
  if (c.optimizer == "sgd") {
    return std::make_unique<SGD>(params, SGDOptions(c.lr).momentum(c.momentum).dampening(c.dampening).weight_decay(c.weightDecay).nesterov(c.nesterov));
  }
  if (c.optimizer == "adam") {
    return std::make_unique<Adam>(params, AdamOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weightDecay).amsgrad(c.amsgrad));
  }
  if (c.optimizer == "adamw") {
    return std::make_unique<AdamW>(params, AdamWOptions(c.lr).betas({c.beta1, c.beta2}).eps(c.eps).weight_decay(c.weightDecay).amsgrad(c.amsgrad));
  }
  if (c.optimizer == "rmsprop") {
    return std::make_unique<RMSprop>(params, RMSpropOptions(c.lr).alpha(c.alpha).eps(c.eps).weight_decay(c.weightDecay).momentum(c.momentum));
  }
  throw Error(Code::Argument, "Expected 'sgd', 'adam', 'adamw' or 'rmsprop' for optimizer but received '" + c.optimizer + "'");
}

at::Tensor firstTensor(const c10::IValue& v, const char* what) {
  if (v.isTensor()) return v.toTensor();
  if (v.isTuple() && !v.toTupleRef().elements().empty() && v.toTupleRef().elements()[0].isTensor()) {
    return v.toTupleRef().elements()[0].toTensor();
  }
  throw Error(Code::Argument, std::string("Expected the model's ") + what + " to be a tensor (or a tuple starting with one) but it is " + v.tagKind());
}

}  // namespace

void validate(const TrainerConfig& c) {
  auto positive = [](double v, const char* name) {
    if (!(v > 0) || !std::isfinite(v)) throw Error(Code::Argument, std::string("Expected a positive number for ") + name + " but received " + std::to_string(v));
  };
  positive(c.lr, "lr");
  if (c.accumulate < 1) throw Error(Code::Argument, "Expected a positive integer for accumulate but received " + std::to_string(c.accumulate));
  if (c.clipNorm < 0 || c.clipValue < 0) throw Error(Code::Argument, "Expected clipNorm and clipValue >= 0 (0 turns clipping off)");
  if (c.schedule != "none" && c.schedule != "step" && c.schedule != "cosine") {
    throw Error(Code::Argument, "Expected 'none', 'step' or 'cosine' for schedule but received '" + c.schedule + "'");
  }
  if (c.schedule == "step" && c.stepSize < 1) throw Error(Code::Argument, "Expected a positive stepSize for the step schedule");
  if (c.schedule == "cosine" && c.tMax < 1) throw Error(Code::Argument, "Expected a positive tMax for the cosine schedule");
  static const char* losses[] = {"mse", "l1", "smooth_l1", "huber", "cross_entropy", "bce_with_logits"};
  bool known = c.loss.rfind("method:", 0) == 0;
  for (const char* l : losses) known = known || c.loss == l;
  if (!known) {
    throw Error(Code::Argument, "Expected 'mse', 'l1', 'smooth_l1', 'huber', 'cross_entropy', 'bce_with_logits' or 'method:<name>' for loss but received '" + c.loss + "'");
  }
}

std::string toJson(const TrainerConfig& c, int64_t optimizerSteps, int64_t microSteps) {
  std::ostringstream o;
  o.precision(17);
  o << "{\"optimizer\":\"" << c.optimizer << "\",\"lr\":" << c.lr << ",\"momentum\":" << c.momentum << ",\"nesterov\":" << (c.nesterov ? "true" : "false")
    << ",\"dampening\":" << c.dampening << ",\"beta1\":" << c.beta1 << ",\"beta2\":" << c.beta2 << ",\"eps\":" << c.eps << ",\"alpha\":" << c.alpha
    << ",\"weightDecay\":" << c.weightDecay << ",\"amsgrad\":" << (c.amsgrad ? "true" : "false") << ",\"loss\":\"" << c.loss << "\",\"lossBeta\":" << c.lossBeta
    << ",\"method\":\"" << c.method << "\",\"clipNorm\":" << c.clipNorm << ",\"clipValue\":" << c.clipValue << ",\"accumulate\":" << c.accumulate
    << ",\"schedule\":\"" << c.schedule << "\",\"stepSize\":" << c.stepSize << ",\"gamma\":" << c.gamma << ",\"tMax\":" << c.tMax << ",\"etaMin\":" << c.etaMin << ",\"keepGradients\":" << (c.keepGradients ? "true" : "false")
    << ",\"optimizerSteps\":" << optimizerSteps << ",\"microSteps\":" << microSteps << "}";
  return o.str();
}

Trainer::Trainer(std::shared_ptr<ModelCore> model, TrainerConfig config) : model_(std::move(model)), config_(std::move(config)) {
  validate(config_);
  if (!model_->hasMethod(config_.method)) throw Error(Code::NotFound, "The model has no method '" + config_.method + "'");
  if (config_.loss.rfind("method:", 0) == 0 && !model_->hasMethod(config_.loss.substr(7))) {
    throw Error(Code::NotFound, "The model has no loss method '" + config_.loss.substr(7) + "'");
  }
  for (const auto& p : model_->module("be trained").named_parameters(true)) {
    if (p.value.requires_grad()) {
      params_.push_back(p.value);
      paramNames_.push_back(p.name);
    }
  }
  if (params_.empty()) throw Error(Code::Argument, "The model has no trainable parameters (none requires grad)");
  model_->markTrained();
  optimizer_ = makeOptimizer(config_, params_);
}

double Trainer::lr() const { return optimizer_->param_groups()[0].options().get_lr(); }

at::Tensor Trainer::computeLoss(const c10::IValue& predValue, const c10::IValue& targetValue) {
  if (config_.loss.rfind("method:", 0) == 0) {
    auto method = model_->module().get_method(config_.loss.substr(7));
    return firstTensor(method({predValue, targetValue}), "loss");
  }
  at::Tensor pred = firstTensor(predValue, "output");
  if (!targetValue.isTensor()) throw Error(Code::Argument, "Expected a Tensor for the target");
  at::Tensor target = targetValue.toTensor();
  const auto& l = config_.loss;
  if (l == "cross_entropy") {
    // Class indices (int64) or class probabilities (float), as torch.nn.functional.cross_entropy.
    return at::cross_entropy_loss(pred, target);
  }
  if (pred.sizes() != target.sizes()) {
    std::ostringstream os;
    os << "Expected a target of shape " << pred.sizes() << " (the model's output) for loss '" << l << "' but received " << target.sizes();
    throw Error(Code::Shape, os.str());
  }
  if (l == "mse") return torch::mse_loss(pred, target);
  if (l == "l1") return torch::l1_loss(pred, target);
  if (l == "smooth_l1") return torch::smooth_l1_loss(pred, target, at::Reduction::Mean, config_.lossBeta);
  if (l == "huber") return torch::huber_loss(pred, target, at::Reduction::Mean, config_.lossBeta);
  return torch::binary_cross_entropy_with_logits(pred, target);
}

void Trainer::applySchedule() {
  double lr0 = config_.lr, next = lr0;
  if (config_.schedule == "step") {
    next = lr0 * std::pow(config_.gamma, static_cast<double>(optimizerSteps_ / config_.stepSize));
  } else if (config_.schedule == "cosine") {
    // CosineAnnealingLR's closed form, periodic in 2 * tMax.
    next = config_.etaMin + (lr0 - config_.etaMin) * (1 + std::cos(M_PI * static_cast<double>(optimizerSteps_) / config_.tMax)) / 2;
  } else {
    return;
  }
  for (auto& g : optimizer_->param_groups()) g.options().set_lr(next);
}

double Trainer::step(std::vector<c10::IValue> inputs, const c10::IValue& target) {
  model_->checkNotDisposed("trainer");
  std::lock_guard<std::mutex> trainerLock(mutex_);
  std::lock_guard<std::mutex> modelLock(model_->mutex());
  auto& module = model_->module();
  bool wasTraining = model_->training();
  if (!wasTraining) module.train();
  try {
    torch::AutoGradMode grad(true);
    // The plain interpreter with autograd, as eager PyTorch: the profiling executor's
    // specialised (autodiff) graphs made a reloaded model's updates differ by an ulp and
    // its speed drift between runs.
    torch::jit::GraphOptimizerEnabledGuard plain(false);
    auto method = module.get_method(config_.method);
    c10::IValue pred = method(std::move(inputs));
    at::Tensor loss = computeLoss(pred, target);
    double value = loss.item<double>();
    if (config_.accumulate > 1) loss = loss / static_cast<double>(config_.accumulate);
    // As DDP's no_sync(): only the micro-step that ends in an update all-reduces.
    if (sync_ && (microSteps_ + 1) % config_.accumulate == 0) sync_->prepareForBackward(loss);
    if (sync_) {
      try {
        loss.backward();
      } catch (const std::exception& e) {
        sync_->fail(e, "The gradient all-reduce");
      }
      value = sync_->mean(value);
    } else {
      loss.backward();
    }
    ++microSteps_;
    if (microSteps_ % config_.accumulate == 0) {
      if (config_.clipValue > 0) torch::nn::utils::clip_grad_value_(params_, config_.clipValue);
      if (config_.clipNorm > 0) torch::nn::utils::clip_grad_norm_(params_, config_.clipNorm);
      if (config_.keepGradients) {
        lastGradients_.clear();
        for (const auto& p : params_) lastGradients_.push_back(p.grad().defined() ? p.grad().detach().clone() : at::zeros_like(p));
      }
      optimizer_->step();
      optimizer_->zero_grad();
      ++optimizerSteps_;
      applySchedule();
    }
    if (!wasTraining) module.eval();
    return value;
  } catch (const Error&) {
    if (!wasTraining) module.eval();
    throw;
  } catch (const std::exception& e) {
    if (!wasTraining) module.eval();
    throw classify(e, Code::Runtime, "training step failed");
  }
}

void Trainer::attach(ProcessGroup& group, int64_t bucketCapBytes) {
  std::lock_guard<std::mutex> trainerLock(mutex_);
  std::lock_guard<std::mutex> modelLock(model_->mutex());
  if (sync_) throw Error(Code::Argument, "This trainer is already attached to a process group");
  if (microSteps_ % config_.accumulate != 0) throw Error(Code::Argument, "Attach the process group between optimizer updates, not in the middle of an accumulation");
  std::vector<at::Tensor> state;
  for (const auto& p : model_->module().named_parameters(true)) state.push_back(p.value);
  for (const auto& b : model_->module().named_buffers(true)) state.push_back(b.value);
  group.broadcast(state, 0);
  sync_ = group.gradientSync(params_, bucketCapBytes);
  buckets_.clear();
  for (const auto& bucket : group.buckets()) {
    buckets_.emplace_back();
    for (size_t i : bucket) buckets_.back().push_back(paramNames_[i]);
  }
}

double Trainer::evaluate(std::vector<c10::IValue> inputs, const c10::IValue& target) {
  model_->checkNotDisposed("trainer");
  std::lock_guard<std::mutex> modelLock(model_->mutex());
  try {
    torch::NoGradGuard guard;  // not InferenceMode: see ModelCore::NoGradScope
    torch::jit::GraphOptimizerEnabledGuard plain(false);
    auto method = model_->module().get_method(config_.method);
    return computeLoss(method(std::move(inputs)), target).item<double>();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw classify(e, Code::Runtime, "evaluate failed");
  }
}

std::vector<std::pair<std::string, at::Tensor>> Trainer::lastGradients() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (size_t i = 0; i < lastGradients_.size(); ++i) out.emplace_back(paramNames_[i], lastGradients_[i]);
  return out;
}

void Trainer::save(const std::string& path) {
  std::lock_guard<std::mutex> trainerLock(mutex_);
  std::ostringstream state;
  torch::serialize::OutputArchive archive;
  optimizer_->save(archive);
  archive.save_to(state);
  model_->save(path, {{kOptimizerFile, state.str()}, {kTrainerFile, toJson(config_, optimizerSteps_, microSteps_)}});
}

bool Trainer::restore() {
  std::lock_guard<std::mutex> trainerLock(mutex_);
  const std::string& state = model_->extraFile(kOptimizerFile);
  const std::string& meta = model_->extraFile(kTrainerFile);
  if (state.empty() || meta.empty()) return false;
  try {
    std::istringstream in(state);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    optimizer_->load(archive);
  } catch (const std::exception& e) {
    throw Error(Code::ModelLoad, "The optimizer state saved with this model does not fit this trainer (" + messageOf(e) +
                                     "): use the same optimizer as when it was saved, or start a fresh one with { resume: false }");
  }
  auto number = [&](const std::string& key) -> int64_t {
    auto pos = meta.find("\"" + key + "\":");
    return pos == std::string::npos ? 0 : std::stoll(meta.substr(pos + key.size() + 3));
  };
  optimizerSteps_ = number("optimizerSteps");
  microSteps_ = number("microSteps");
  applySchedule();
  return true;
}

}  // namespace torchloop
