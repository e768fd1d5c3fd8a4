// Trainer: forward, loss, backward and an optimizer update on a ModelCore, with gradient
// clipping, accumulation and learning-rate schedules. Its state (optimizer buffers, step
// counters, configuration) is written into the model's TorchScript archive as extra files,
// so a saved model resumes training where it stopped.
#pragma once
#include <torch/script.h>
#include <torch/optim.h>

#include <memory>
#include <string>
#include <vector>

#include "distributed.h"
#include "model.h"

namespace torchloop {

struct TrainerConfig {
  std::string optimizer = "adam";  // sgd | adam | adamw | rmsprop
  double lr = 1e-3;
  double momentum = 0;             // sgd, rmsprop
  bool nesterov = false;           // sgd
  double dampening = 0;            // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw (rmsprop uses eps too)
  double alpha = 0.99;             // rmsprop
  double weightDecay = 0;          // adamw defaults to 0.01 when not given (set by the caller)
  bool amsgrad = false;
  std::string loss = "mse";        // mse | l1 | smooth_l1 | huber | cross_entropy | bce_with_logits | method:<name>
  double lossBeta = 1.0;           // smooth_l1 beta, huber delta
  std::string method = "forward";
  double clipNorm = 0;             // 0: off
  double clipValue = 0;            // 0: off
  int64_t accumulate = 1;          // micro-batches per optimizer step
  std::string schedule = "none";   // none | step | cosine
  int64_t stepSize = 1;            // step schedule: every stepSize optimizer steps ...
  double gamma = 0.1;              // ... multiply lr by gamma
  int64_t tMax = 1;                // cosine: period in optimizer steps
  double etaMin = 0;               // cosine: floor
  bool keepGradients = false;      // copy the gradients of the last update (for histograms)
};

class Trainer {
 public:
  Trainer(std::shared_ptr<ModelCore> model, TrainerConfig config);

  // One micro-batch: forward in training mode, loss, backward; every `accumulate` calls an
  // optimizer update (after clipping) and a schedule step. Returns the loss. Thread-safe.
  double step(std::vector<c10::IValue> inputs, const c10::IValue& target);
  // The loss without gradients (inference mode, model left in its mode).
  double evaluate(std::vector<c10::IValue> inputs, const c10::IValue& target);

  double lr() const;
  int64_t optimizerSteps() const { return optimizerSteps_; }
  int64_t microSteps() const { return microSteps_; }
  const TrainerConfig& config() const { return config_; }
  MethodSignature modelSignature() const { return model_->signature(config_.method); }

  // The gradients of the last optimizer update, by parameter name (keepGradients).
  std::vector<std::pair<std::string, at::Tensor>> lastGradients();

  // Data-parallel training: broadcasts rank 0's parameters and buffers to the group, then
  // averages every update's gradients across it (c10d's Reducer, bucketed, overlapped with
  // backward); step() then returns the loss averaged over the group.
  void attach(ProcessGroup& group, int64_t bucketCapBytes);
  // The parameters' buckets after attach(), as parameter names.
  std::vector<std::vector<std::string>> buckets() const { return buckets_; }

  // Saves the model with this trainer's state in the archive.
  void save(const std::string& path);
  // Restores state written by save() into the model's archive (false if there is none).
  bool restore();

 private:
  at::Tensor computeLoss(const c10::IValue& pred, const c10::IValue& target);
  void applySchedule();

  std::shared_ptr<ModelCore> model_;
  TrainerConfig config_;
  std::vector<at::Tensor> params_;
  std::vector<std::string> paramNames_;
  std::vector<at::Tensor> lastGradients_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::shared_ptr<GradientSync> sync_;
  std::vector<std::vector<std::string>> buckets_;
  int64_t optimizerSteps_ = 0, microSteps_ = 0;
  std::mutex mutex_;
};

// Parses and checks a configuration (throws Error(Argument) naming the bad field).
void validate(const TrainerConfig& config);

std::string toJson(const TrainerConfig& config, int64_t optimizerSteps, int64_t microSteps);

}  // namespace torchloop
