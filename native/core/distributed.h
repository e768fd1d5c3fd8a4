// Data-parallel training over libtorch's own c10d: a TCPStore rendezvous, a Gloo process
// group, and c10d's Reducer (the engine under PyTorch's DistributedDataParallel) that
// buckets the gradients and all-reduces each bucket as soon as backward has filled it.
// Compiled for real against libtorch 2.x with Gloo's headers (TORCHLOOP_GLOO); otherwise
// every entry point throws Error(Unsupported) saying what is missing.
#pragma once
#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace torchloop {

struct ProcessGroupOptions {
  int rank = 0;
  int worldSize = 1;
  std::string masterHost = "127.0.0.1";
  int masterPort = 29500;
  // This process's address for Gloo's pairs ("" = resolve the host name; loopback when the master is).
  std::string localHost;
  std::chrono::milliseconds timeout{60000};
};

// What the Trainer needs from a process group while it trains (declared here so that
// trainer.h stays free of c10d's headers).
class GradientSync {
 public:
  virtual ~GradientSync() = default;
  // Before backward on a micro-step that ends with an optimizer update: arms the reducer,
  // which averages every gradient across the group during backward.
  virtual void prepareForBackward(const at::Tensor& loss) = 0;
  // The mean of a value over the group (the loss the statistics show).
  virtual double mean(double value) = 0;
  virtual int worldSize() const = 0;
  // Rethrows a failure inside backward (where the reducer's all-reduce runs) as Error(Distributed).
  [[noreturn]] virtual void fail(const std::exception& e, const std::string& what) = 0;
};

class ProcessGroup {
 public:
  // Rendezvous through the TCPStore on masterHost:masterPort (rank 0 serves it), then Gloo's
  // full mesh. Blocks until every rank has joined, or throws Error(Distributed) at the timeout.
  explicit ProcessGroup(const ProcessGroupOptions& options);
  ~ProcessGroup();

  int rank() const { return options_.rank; }
  int worldSize() const { return options_.worldSize; }

  // In place, every collective with the group's timeout; failures (a rank gone, a timeout)
  // throw Error(Distributed) naming the operation.
  void allreduceSum(at::Tensor& tensor);
  void broadcast(std::vector<at::Tensor> tensors, int root);
  void barrier();

  // A Reducer over these parameters, in DDP's buckets: the first bucket capped at 1 MiB, the
  // rest at bucketCapBytes, filled in reverse parameter order (the order backward frees them).
  std::shared_ptr<GradientSync> gradientSync(const std::vector<at::Tensor>& params, int64_t bucketCapBytes);
  // How the last gradientSync() split the parameters (indices per bucket), for reports and tests.
  const std::vector<std::vector<size_t>>& buckets() const { return buckets_; }

  struct Impl;

 private:
  ProcessGroupOptions options_;
  std::shared_ptr<Impl> impl_;
  std::vector<std::vector<size_t>> buckets_;
};

// Whether this build has c10d with Gloo, and if not, why.
bool distributedAvailable(std::string* why = nullptr);

}  // namespace torchloop
