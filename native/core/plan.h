// StepPlan: a frozen TorchScript graph replayed as ATen out-variant calls into
// preallocated tensors. See step.h for when it is used.
#pragma once
#include <torch/script.h>

#include <functional>
#include <string>
#include <vector>

namespace torchloop {

class StepPlan {
 public:
  // Builds a plan for `method` of a frozen copy of `module`, for the given inputs (which
  // stay bound: the plan reads them each run) writing into `outputs`. Throws
  // std::runtime_error naming the first unsupported node when the graph cannot be planned.
  StepPlan(const torch::jit::Module& module, const std::string& method,
           const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& outputs);
  void run();
  size_t size() const { return ops_.size(); }

 private:
  std::vector<at::Tensor> slots_;          // every intermediate tensor, preallocated
  std::vector<std::function<void()>> ops_;  // out-variant calls in graph order
  std::vector<std::pair<at::Tensor, at::Tensor>> finalCopies_;  // (src, dst) where an output aliases an input or constant
};

}  // namespace torchloop
