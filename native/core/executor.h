// Executors: the ways a StepRunner can run its method over its bound tensors. Each reads the
// runner's input tensors in place and writes its output tensors in place; one file each:
//   interpreter.cc  TorchScript's interpreter with a reused stack (always possible; the
//                   reference the others are checked against);
//   plan.cc         the frozen graph replayed as ATen out-variant calls (CPU);
//   package_runner.cc  an AOTInductor package's compiled forward (the only way a .pt2 runs);
//   cuda_graph.cc   the whole step (copies in, the method, copies out) captured as one CUDA
//                   graph on a stream of its own (CUDA builds).
// The runner builds the candidates that apply, checks each against the interpreter's
// outputs, times them, and keeps the fastest (step.cc).
#pragma once
#include <torch/script.h>

#include <functional>
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
  const std::vector<at::Tensor>& inputs;  // the tensors the method reads, every argument's in order
  const std::vector<at::Tensor>& outputs;
  // Every argument a Tensor, in order: `inputs` are the arguments. Otherwise (tuples, dicts,
  // constants) pushArguments builds them around the same tensors.
  bool plainTensors = true;
  std::function<void(torch::jit::Stack&)> pushArguments;
};

std::unique_ptr<Executor> makeInterpreter(const Binding& b);
std::unique_ptr<Executor> makePlan(const Binding& b);
std::unique_ptr<Executor> makeCudaGraph(const Binding& b);
// An AOTInductor package (b.model.package()): its compiled forward, results copied into the outputs.
std::unique_ptr<Executor> makePackageRunner(const Binding& b);
// Static Runtime (libtorch 2.x builds; elsewhere it throws saying so).
std::unique_ptr<Executor> makeStaticRuntime(const Binding& b);

// The tensors of a method's result, in order: a tensor, or a tuple, list or Dict[str, Tensor]
// of them (nested). With names, each one's place: "0", "1.0", "forces".
void flattenTensors(const c10::IValue& v, std::vector<at::Tensor>& out, std::vector<std::string>* names = nullptr,
                    const std::string& prefix = "");
// Copies a result into an output tensor, without the dispatcher when layouts allow.
void copyInto(at::Tensor& dst, const at::Tensor& src);

}  // namespace torchloop
