// StepRunner: the realtime hot path. It owns its input and output tensors (the N-API layer
// exposes them to JavaScript as views), so a step is: the caller writes inputs in place,
// step() runs the method, the outputs are written in place. Nothing is allocated per step
// for inputs and outputs; on a CUDA device both live in pinned host memory.
//
// How the method runs is an Executor (executor.h): the interpreter, the plan, a CUDA graph.
// prepare() builds every candidate that applies, keeps those whose outputs match the
// interpreter's on the bound inputs, times them, and runs the fastest from then on.
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

class Executor;  // executor.h

class StepRunner {
 public:
  // Allocates the inputs, runs the method once through the interpreter to learn the
  // outputs (one tensor, or a tuple/list of tensors), allocates them, and builds a plan
  // when possible. Inputs are zero-filled; write real values before warming up.
  StepRunner(std::shared_ptr<ModelCore> model, std::string method, std::vector<TensorSpec> inputs,
             StepOptions options);
  ~StepRunner();

  // Reinitialises output shapes by running the interpreter on the current inputs (called
  // after the caller has written realistic inputs), and chooses the executor again.
  void prepare();
  void step();
  // Runs n steps in C++ and writes each step's duration in nanoseconds (the C++ floor).
  void loop(int64_t n, int64_t* durationsNs);

  std::vector<at::Tensor>& inputs() { return inputs_; }
  std::vector<at::Tensor>& outputs() { return outputs_; }
  double lastRunMs() const { return lastRunMs_; }
  // What runs and why: "plan (5 ops)", or "interpreter (plan: unsupported node aten::elu)".
  const std::string& planStatus() const { return planStatus_; }
  const std::shared_ptr<ModelCore>& model() const { return model_; }

 private:
  void chooseExecutor();

  std::shared_ptr<ModelCore> model_;
  std::string method_;
  StepOptions options_;
  std::vector<at::Tensor> inputs_;
  std::vector<at::Tensor> outputs_;
  std::unique_ptr<Executor> executor_;
  std::string planStatus_;
  double lastRunMs_ = 0;
};

}  // namespace torchloop
