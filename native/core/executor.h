// Executors: the ways a StepRunner can run its method over its bound tensors. Each reads the
// runner's input tensors in place and writes its output tensors in place; one file each:
//   interpreter.cc  TorchScript's interpreter with a reused stack (always possible; the
//                   reference the others are checked against);
//   plan.cc         the frozen graph replayed as ATen out-variant calls (CPU);
//   cuda_graph.cc   the whole step (copies in, the method, copies out) captured as one CUDA
//                   graph on a stream of its own (CUDA builds).
// The runner builds the candidates that apply, checks each against the interpreter's
// outputs, times them, and keeps the fastest (step.cc).
#pragma once
#include <torch/script.h>

#include <memory>
#include <string>
#include <vector>

#include "model.h"

namespace torchloop {

class Executor {
 public:
  virtual ~Executor() = default;
  // One run: reads the bound inputs, writes the bound outputs. The caller holds the
  // model's mutex and the no-gradient scope.
  virtual void run() = 0;
  // What runs, e.g. "plan (5 ops)", "interpreter", "cuda graph".
  virtual std::string describe() const = 0;
};

// What every factory gets: the model, the method, and the runner's tensors (inputs hold
// realistic values; outputs have the shapes of a first interpreter run). A factory that
// cannot build its executor throws a std::exception saying why.
struct Binding {
  ModelCore& model;
  const std::string& method;
  const std::vector<at::Tensor>& inputs;
  const std::vector<at::Tensor>& outputs;
};

std::unique_ptr<Executor> makeInterpreter(const Binding& b);
std::unique_ptr<Executor> makePlan(const Binding& b);
std::unique_ptr<Executor> makeCudaGraph(const Binding& b);

// The tensors of a method's result, in order: a tensor, or a tuple or list of them.
void flattenTensors(const c10::IValue& v, std::vector<at::Tensor>& out);
// Copies a result into an output tensor, without the dispatcher when layouts allow.
void copyInto(at::Tensor& dst, const at::Tensor& src);

}  // namespace torchloop
