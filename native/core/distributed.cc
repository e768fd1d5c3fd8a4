#include "distributed.h"

#include <torch/version.h>

#include "errors.h"

#if defined(TORCHLOOP_GLOO) && TORCH_VERSION_MAJOR >= 2
#define TORCHLOOP_DISTRIBUTED 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/csrc/autograd/grad_mode.h>
#endif

namespace torchloop {

#ifdef TORCHLOOP_DISTRIBUTED

namespace {

// c10d's messages carry Gloo's source location and advice meant for Python users; keep the
// first line and say which collective failed.
[[noreturn]] void rethrow(const std::exception& e, const std::string& what, int rank) {
  std::string msg = messageOf(e);
  if (auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
  if (msg.rfind('[', 0) == 0) {
    if (auto close = msg.find("] "); close != std::string::npos) msg = msg.substr(close + 2);
  }
  if (auto glhf = msg.find(" GLHF"); glhf != std::string::npos) msg = msg.substr(0, glhf);
  throw Error(Code::Distributed, what + " failed on rank " + std::to_string(rank) + ": " + msg +
                                     " (another rank has probably exited or stopped; see its log)");
}

}  // namespace

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> group;
};

ProcessGroup::ProcessGroup(const ProcessGroupOptions& o) : options_(o) {
  if (o.worldSize < 1 || o.rank < 0 || o.rank >= o.worldSize) {
    throw Error(Code::Argument, "Expected 0 <= rank < worldSize but received rank " + std::to_string(o.rank) + " of " + std::to_string(o.worldSize));
  }
  if (o.masterPort < 1 || o.masterPort > 65535) throw Error(Code::Argument, "Expected a master port in 1..65535 but received " + std::to_string(o.masterPort));
  impl_ = std::make_shared<Impl>();
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(o.masterPort);
    so.isServer = o.rank == 0;
    so.numWorkers = o.worldSize;
    so.waitWorkers = true;
    so.timeout = o.timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(o.masterHost, so);
  } catch (const std::exception& e) {
    throw Error(Code::Distributed, "Rendezvous at " + o.masterHost + ":" + std::to_string(o.masterPort) + " failed on rank " + std::to_string(o.rank) +
                                       " within " + std::to_string(o.timeout.count() / 1000) + " s: " + messageOf(e).substr(0, 300) +
                                       (o.rank == 0 ? " (is the port free?)" : " (did rank 0 start, and is the master address right?)"));
  }
  try {
    auto gloo = c10d::ProcessGroupGloo::Options::create(o.timeout);
    std::string local = o.localHost;
    if (local.empty() && (o.masterHost == "127.0.0.1" || o.masterHost == "localhost")) local = "127.0.0.1";
    gloo->devices.push_back(local.empty() ? c10d::ProcessGroupGloo::createDefaultDevice() : c10d::ProcessGroupGloo::createDeviceForHostname(local));
    gloo->threads = 1;
    auto backend = c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, o.rank, o.worldSize, gloo);
    impl_->group = c10::make_intrusive<c10d::ProcessGroup>(impl_->store, o.rank, o.worldSize);
    impl_->group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, backend);
    impl_->group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    rethrow(e, "Connecting the Gloo process group", o.rank);
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::allreduceSum(at::Tensor& tensor) {
  try {
    std::vector<at::Tensor> t{tensor};
    impl_->group->allreduce(t)->wait();
  } catch (const std::exception& e) {
    rethrow(e, "allreduce", options_.rank);
  }
}

void ProcessGroup::broadcast(std::vector<at::Tensor> tensors, int root) {
  if (root < 0 || root >= options_.worldSize) throw Error(Code::Argument, "Expected a root rank below " + std::to_string(options_.worldSize));
  try {
    at::NoGradGuard noGrad;
    for (auto& t : tensors) {
      // Gloo broadcasts contiguous CPU tensors; parameters are, but be safe.
      at::Tensor c = t.is_contiguous() ? t : t.contiguous();
      std::vector<at::Tensor> one{c};
      c10d::BroadcastOptions bo;
      bo.rootRank = root;
      impl_->group->broadcast(one, bo)->wait();
      if (!c.is_same(t)) t.copy_(c);
    }
  } catch (const std::exception& e) {
    rethrow(e, "broadcast", options_.rank);
  }
}

void ProcessGroup::barrier() {
  try {
    impl_->group->barrier()->wait();
  } catch (const std::exception& e) {
    rethrow(e, "barrier", options_.rank);
  }
}

namespace {

class ReducerSync : public GradientSync {
 public:
  ReducerSync(std::shared_ptr<ProcessGroup::Impl> impl, std::shared_ptr<c10d::Reducer> reducer, int rank, int world)
      : impl_(std::move(impl)), reducer_(std::move(reducer)), rank_(rank), world_(world) {}

  void prepareForBackward(const at::Tensor& loss) override {
    try {
      reducer_->prepare_for_backward({loss});
    } catch (const std::exception& e) {
      rethrow(e, "preparing the gradient all-reduce", rank_);
    }
  }

  double mean(double value) override {
    at::Tensor t = at::full({1}, value, at::kDouble);
    try {
      std::vector<at::Tensor> v{t};
      impl_->group->allreduce(v)->wait();
    } catch (const std::exception& e) {
      rethrow(e, "allreduce of the loss", rank_);
    }
    return t.item<double>() / world_;
  }

  int worldSize() const override { return world_; }

  [[noreturn]] void fail(const std::exception& e, const std::string& what) override { rethrow(e, what, rank_); }

 private:
  std::shared_ptr<ProcessGroup::Impl> impl_;
  std::shared_ptr<c10d::Reducer> reducer_;
  int rank_, world_;
};

}  // namespace

std::shared_ptr<GradientSync> ProcessGroup::gradientSync(const std::vector<at::Tensor>& params, int64_t bucketCapBytes) {
  if (params.empty()) throw Error(Code::Argument, "No parameters to synchronise");
  if (bucketCapBytes < 1) throw Error(Code::Argument, "Expected a positive bucket size");
  const int64_t firstBucket = std::min<int64_t>(1024 * 1024, bucketCapBytes);
  try {
    // DDP's assignment: buckets by size over the parameters in order, then reversed, since
    // backward produces the last layer's gradients first.
    std::vector<bool> sparse(params.size(), false);
    auto [indices, limits] = c10d::compute_bucket_assignment_by_size(params, {static_cast<size_t>(firstBucket), static_cast<size_t>(bucketCapBytes)}, sparse);
    std::reverse(indices.begin(), indices.end());
    std::reverse(limits.begin(), limits.end());
    buckets_ = indices;
    auto reducer = std::make_shared<c10d::Reducer>(params, indices, impl_->group, sparse, bucketCapBytes, /*find_unused_parameters=*/false,
                                                   /*gradient_as_bucket_view=*/false, std::unordered_map<size_t, std::string>{}, firstBucket,
                                                   /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
                                                   std::vector<int64_t>(limits.begin(), limits.end()));
    return std::make_shared<ReducerSync>(impl_, std::move(reducer), options_.rank, options_.worldSize);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    rethrow(e, "Setting up the gradient reducer", options_.rank);
  }
}

bool distributedAvailable(std::string* why) {
  if (why) why->clear();
  return true;
}

#else  // no c10d with Gloo in this build

namespace {
std::string reason() {
#if TORCH_VERSION_MAJOR < 2
  return "data-parallel training needs libtorch 2.x (this build is against libtorch " TORCH_VERSION ")";
#else
  return "this build of torchloop has no Gloo headers (install libgloo-dev, or put gloo/ on the include path, and rebuild)";
#endif
}
}  // namespace

struct ProcessGroup::Impl {};

ProcessGroup::ProcessGroup(const ProcessGroupOptions& o) : options_(o) { throw Error(Code::Unsupported, reason()); }
ProcessGroup::~ProcessGroup() = default;
void ProcessGroup::allreduceSum(at::Tensor&) { throw Error(Code::Unsupported, reason()); }
void ProcessGroup::broadcast(std::vector<at::Tensor>, int) { throw Error(Code::Unsupported, reason()); }
void ProcessGroup::barrier() { throw Error(Code::Unsupported, reason()); }
std::shared_ptr<GradientSync> ProcessGroup::gradientSync(const std::vector<at::Tensor>&, int64_t) { throw Error(Code::Unsupported, reason()); }
bool distributedAvailable(std::string* why) {
  if (why) *why = reason();
  return false;
}

#endif

}  // namespace torchloop
