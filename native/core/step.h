// StepRunner: the realtime hot path. It owns its input and output tensors (the N-API layer
// exposes them to JavaScript as views), so a step is: the caller writes inputs in place,
// step() runs the method, the outputs are written in place. Nothing is allocated per step
// for inputs and outputs.
//
// Two execution modes:
//  - plan: the frozen graph is walked once and its ops (linear, matmul, addmm, elementwise,
//    activations, cat) are replayed as ATen out-variant calls into preallocated tensors,
//    without the TorchScript interpreter. Only used when every node is supported and the
//    plan's outputs match the interpreter's on the bound inputs.
//  - interpreter: the method runs through TorchScript with a reused stack; results are
//    copied into the output tensors.
#pragma once
#include <torch/script.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model.h"

namespace torchloop {

struct TensorSpec {
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::kFloat;
};

struct StepOptions {
  bool usePlan = true;
};

class StepPlan;  // defined in plan.h

class StepRunner {
 public:
  // Allocates the inputs, runs the method once through the interpreter to learn the
  // outputs (one tensor, or a tuple/list of tensors), allocates them, and builds a plan
  // when possible. Inputs are zero-filled; write real values before warming up.
  StepRunner(std::shared_ptr<ModelCore> model, std::string method, std::vector<TensorSpec> inputs,
             StepOptions options);
  ~StepRunner();

  // Reinitialises output shapes by running the interpreter on the current inputs (called
  // after the caller has written realistic inputs), and rebuilds the plan.
  void prepare();
  void step();
  // Runs n steps in C++ and writes each step's duration in nanoseconds (the C++ floor).
  void loop(int64_t n, int64_t* durationsNs);

  std::vector<at::Tensor>& inputs() { return inputs_; }
  std::vector<at::Tensor>& outputs() { return outputs_; }
  double lastRunMs() const { return lastRunMs_; }
  bool usesPlan() const { return plan_ != nullptr; }
  const std::string& planStatus() const { return planStatus_; }  // why the plan is or is not used
  const std::shared_ptr<ModelCore>& model() const { return model_; }

 private:
  void runInterpreter();
  void buildPlan();

  std::shared_ptr<ModelCore> model_;
  std::string method_;
  StepOptions options_;
  std::vector<at::Tensor> inputs_;
  std::vector<at::Tensor> outputs_;
  std::vector<at::Tensor> deviceInputs_;  // copies on the model's device when it is not the CPU
  torch::jit::Stack stack_;
  c10::optional<torch::jit::Method> methodHandle_;
  std::unique_ptr<StepPlan> plan_;
  std::string planStatus_;
  double lastRunMs_ = 0;
};

}  // namespace torchloop
