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
  // The tensor the caller writes holds float64 and is converted to `dtype` before each run
  // (integer inputs fed from number signals, e.g. an edge index).
  bool fromDouble = false;
};

// One argument of a step's method: a tensor fed from an input, a tuple or a Dict[str, Tensor]
// of them (an input per element, in order), or a constant set once (an int, float, bool or
// str parameter such as Silero's sample rate).
struct ArgSpec {
  enum class Kind { Tensor, Tuple, Dict, Constant } kind = Kind::Tensor;
  TensorSpec tensor;
  std::vector<ArgSpec> elements;  // Tuple and Dict
  std::vector<std::string> keys;  // Dict: the key of each element
  c10::IValue value;              // Constant

  static ArgSpec of(TensorSpec t) {
    ArgSpec a;
    a.tensor = std::move(t);
    return a;
  }
};

struct StepOptions {
  bool usePlan = true;
  // Runs this executor and no other ("interpreter", "plan", "static runtime", "cuda graph"),
  // or fails saying why it cannot; empty: the fastest that matches the interpreter.
  std::string executor;
};

class Executor;  // executor.h

class StepRunner {
 public:
  // Allocates the inputs, runs the method once through the interpreter to learn the
  // outputs (one tensor, or a tuple/list of tensors), allocates them, and builds a plan
  // when possible. Inputs are zero-filled; write real values before warming up.
  StepRunner(std::shared_ptr<ModelCore> model, std::string method, std::vector<TensorSpec> inputs,
             StepOptions options);
  // The general form: one ArgSpec per argument; the inputs are the tensors of every argument
  // in order (depth first).
  StepRunner(std::shared_ptr<ModelCore> model, std::string method, std::vector<ArgSpec> args, StepOptions options);
  ~StepRunner();

  // Reinitialises output shapes by running the interpreter on the current inputs (called
  // after the caller has written realistic inputs), and chooses the executor again.
  void prepare();
  void step();
  // Runs n steps in C++ and writes each step's duration in nanoseconds (the C++ floor).
  void loop(int64_t n, int64_t* durationsNs);

  // What the caller writes (float64 for inputs converted before each run).
  std::vector<at::Tensor>& inputs() { return inputs_; }
  std::vector<at::Tensor>& outputs() { return outputs_; }
  // What JavaScript's signals read: the outputs, with each int64 one mirrored as float64
  // (exact up to 2^53; an edge index, token ids), updated after every run without allocating.
  std::vector<at::Tensor>& signalOutputs() { return signalOutputs_; }
  // Each output's place in the method's result: "0", "1.0" (tuple elements), "forces" (a key).
  const std::vector<std::string>& outputNames() const { return outputNames_; }
  // A model that keeps state between calls (attributes reassigned, buffers written in place):
  // saveState() copies it and restoreState() puts the copy back. Binding and warmup() run the
  // model, so the state is put back after them; the first real step starts where load left it.
  bool stateful() const { return stateful_; }
  void saveState();
  void restoreState();
  // Whether the model writes into its own inputs (it then runs on copies of them).
  bool shieldsInputs() const { return shield_; }
  double lastRunMs() const { return lastRunMs_; }
  // What runs and why: "plan (5 ops)", or "interpreter (plan: unsupported node aten::elu)".
  const std::string& planStatus() const { return planStatus_; }
  const std::shared_ptr<ModelCore>& model() const { return model_; }

 private:
  void chooseExecutor();
  void analyse();
  void copyIn();
  std::vector<c10::IValue> arguments() const;

  std::shared_ptr<ModelCore> model_;
  std::string method_;
  StepOptions options_;
  std::vector<ArgSpec> args_;
  std::vector<at::Tensor> inputs_;       // what the caller writes
  std::vector<at::Tensor> modelInputs_;  // what the method reads (the same tensors, or copies)
  std::vector<std::pair<at::Tensor, at::Tensor>> copies_;  // (from, to) before each run
  std::vector<at::Tensor> outputs_;
  std::vector<at::Tensor> signalOutputs_;
  std::vector<std::pair<at::Tensor, at::Tensor>> int64Mirrors_;  // (int64 output, its float64 mirror)
  void mirrorOutputs();
  std::vector<std::string> outputNames_;
  bool plainTensors_ = true;  // every argument a Tensor (what the plan and CUDA graph take)
  bool stateful_ = false;
  bool reassignsState_ = false;  // prim::SetAttr: its state moves to new tensors each call
  bool shield_ = false;
  struct SlotCopy {
    c10::intrusive_ptr<c10::ivalue::Object> object;
    size_t slot;
    c10::IValue original;  // the value at save time (a tensor keeps its identity)
    at::Tensor saved;      // a copy of a tensor's data
  };
  std::vector<SlotCopy> state_;
  std::unique_ptr<Executor> executor_;
  std::string planStatus_;
  double lastRunMs_ = 0;
};

}  // namespace torchloop
