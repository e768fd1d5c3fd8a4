// gpu_check: the native core on a GPU, checked against PyTorch on the same GPU and timed.
// There is no Node on the GPU machine, so this is the whole protocol in C++ over the core;
// scripts/gpu/reference.py writes what PyTorch computed, scripts/gpu/run.sh runs both.
//
//   gpu_check DIR [--device cuda] [--iters 20000]
//
// DIR holds (all float32, little-endian, written by reference.py):
//   cases.txt             name|model file|steps|shape;shape;...   one model per line
//   NAME.in.bin           every step's inputs, in order
//   NAME.out.bin          every step's first output, as PyTorch computed it on the GPU
//   NAME.latency          present: time this case (the CUDA-graph step, the interpreter, the CPU)
//   NAME.nocapture        present: this model cannot be captured (the fallback is checked)
//   train.txt             model file|steps|lr|batch|in|out   (Adam, MSE, as reference.py trains)
//   train.x.bin, train.y.bin, train.loss.bin (float64), train.params.bin
// For each case: Model calls, the interpreter step and the chosen step, each against PyTorch
// over every step (a stateful model carries its state across them); then the CUDA-graph step
// alone. Prints one line per check and per timing, and "N passed, N failed" last.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/model.h"
#include "core/runtime.h"
#include "core/step.h"
#include "core/trainer.h"

#ifdef TORCHLOOP_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

using namespace torchloop;
using Clock = std::chrono::steady_clock;

namespace {

int passed = 0, failed = 0;

void check(bool ok, const std::string& what, const std::string& detail = "") {
  (ok ? passed : failed)++;
  std::printf("%s  %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(), detail.empty() ? "" : ": ", detail.c_str());
  std::fflush(stdout);
}

std::vector<char> readAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::vector<char>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

bool exists(const std::string& path) { return std::ifstream(path).good(); }

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string part; std::getline(in, part, sep);) out.push_back(part);
  return out;
}

std::vector<int64_t> parseShape(const std::string& s) {
  std::vector<int64_t> shape;
  for (const auto& d : split(s, 'x')) shape.push_back(std::stoll(d));
  return shape;
}

// Floats from a file, as tensors of the given shapes, one after another.
std::vector<at::Tensor> tensorsFrom(const std::vector<char>& bytes, size_t& at, const std::vector<std::vector<int64_t>>& shapes) {
  std::vector<at::Tensor> out;
  for (const auto& shape : shapes) {
    at::Tensor t = at::empty(shape, at::kFloat);
    size_t n = static_cast<size_t>(t.numel()) * sizeof(float);
    if (at + n > bytes.size()) throw std::runtime_error("an input file is shorter than its shapes");
    std::memcpy(t.data_ptr(), bytes.data() + at, n);
    at += n;
    out.push_back(t);
  }
  return out;
}

double maxAbsDiff(const at::Tensor& a, const at::Tensor& b) {
  if (a.numel() != b.numel()) return INFINITY;
  return (a.cpu().to(at::kDouble).reshape(-1) - b.cpu().to(at::kDouble).reshape(-1)).abs().max().item<double>();
}

std::string fmt(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2e", v);
  return b;
}

at::Tensor firstTensor(const c10::IValue& v) {
  if (v.isTensor()) return v.toTensor();
  if (v.isTuple()) return firstTensor(v.toTupleRef().elements()[0]);
  if (v.isList()) return firstTensor(v.toListRef()[0]);
  throw std::runtime_error("the result holds no tensor");
}

struct Percentiles {
  double p50, p99;
};
Percentiles timeIt(int64_t iters, const std::function<void()>& once) {
  for (int i = 0; i < 2000; ++i) once();  // warm-up
  std::vector<int64_t> ns(static_cast<size_t>(iters));
  for (auto& d : ns) {
    auto t0 = Clock::now();
    once();
    d = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  }
  std::sort(ns.begin(), ns.end());
  return {ns[ns.size() / 2] / 1000.0, ns[std::min(ns.size() - 1, ns.size() * 99 / 100)] / 1000.0};
}

void printTiming(const std::string& name, const std::string& what, Percentiles p) {
  std::printf("time  %-6s %-44s p50 %9.2f us  p99 %9.2f us\n", name.c_str(), what.c_str(), p.p50, p.p99);
  std::fflush(stdout);
}

struct Case {
  std::string name, model;
  int steps;
  std::vector<std::vector<int64_t>> shapes;
  std::vector<std::vector<at::Tensor>> inputs;  // per step
  std::vector<at::Tensor> expected;             // per step, flat
};

// Runs `steps` steps of a StepRunner and compares each with PyTorch's outputs.
void checkSteps(const Case& c, const std::string& device, StepOptions options, const std::string& label) {
  auto model = ModelCore::loadFile(c.model, device);
  std::vector<TensorSpec> specs;
  for (const auto& s : c.shapes) specs.push_back({s, at::kFloat});
  StepRunner runner(model, "forward", specs, options);
  for (size_t i = 0; i < specs.size(); ++i) runner.inputs()[i].copy_(c.inputs[0][i]);
  runner.prepare();  // state (if any) is put back: the first step starts where load left it
  double worst = 0;
  for (int s = 0; s < c.steps; ++s) {
    for (size_t i = 0; i < specs.size(); ++i) runner.inputs()[i].copy_(c.inputs[s][i]);
    runner.step();
    worst = std::max(worst, maxAbsDiff(runner.outputs()[0], c.expected[s]));
  }
  check(worst <= 1e-4, c.name + ": " + label + " over " + std::to_string(c.steps) + " steps = PyTorch",
        "max |diff| " + fmt(worst) + "; runs " + runner.planStatus().substr(0, 160));
}

void runCase(const Case& c, const std::string& device, const std::string& dir, int64_t iters) {
  // Model calls, each step's inputs in turn (a stateful model carries its state).
  {
    auto model = ModelCore::loadFile(c.model, device);
    double worst = 0;
    for (int s = 0; s < c.steps; ++s) {
      std::vector<c10::IValue> args(c.inputs[s].begin(), c.inputs[s].end());
      at::Tensor out = firstTensor(model->run("forward", args));
      check(out.device().type() == model->device().type(), c.name + ": the result is on " + device) ;
      worst = std::max(worst, maxAbsDiff(out, c.expected[s]));
    }
    check(worst <= 1e-4, c.name + ": Model calls over " + std::to_string(c.steps) + " steps = PyTorch", "max |diff| " + fmt(worst));
  }
  checkSteps(c, device, StepOptions{false, "interpreter"}, "interpreter step");
  checkSteps(c, device, StepOptions{true, ""}, "chosen step");
  bool graphExpected = !exists(dir + "/" + c.name + ".nocapture");
  if (device == "cpu") return;  // a dry run of this program on a machine without a GPU
  try {
    checkSteps(c, device, StepOptions{true, "cuda graph"}, "CUDA-graph step");
    check(graphExpected, c.name + ": CUDA graph captured", graphExpected ? "" : "a model that should not capture did");
  } catch (const Error& e) {
    check(!graphExpected, c.name + ": CUDA-graph step", std::string(codeName(e.code())) + " " + e.what());
  }

  if (!exists(dir + "/" + c.name + ".latency")) return;
  std::vector<TensorSpec> specs;
  for (const auto& s : c.shapes) specs.push_back({s, at::kFloat});
  auto timeStep = [&](const std::string& dev, StepOptions o, const std::string& what) {
    try {
      auto model = ModelCore::loadFile(c.model, dev);
      StepRunner r(model, "forward", specs, o);
      for (size_t i = 0; i < specs.size(); ++i) r.inputs()[i].copy_(c.inputs[0][i]);
      r.prepare();
      printTiming(c.name, what + " [" + r.planStatus().substr(0, 40) + "]", timeIt(iters, [&] { r.step(); }));
    } catch (const std::exception& e) {
      std::printf("time  %-6s %-44s not run: %s\n", c.name.c_str(), what.c_str(), e.what());
    }
  };
  timeStep(device, StepOptions{true, "cuda graph"}, "CUDA-graph step (H2D, method, D2H)");
  timeStep(device, StepOptions{false, "interpreter"}, "interpreter step on the GPU");
  timeStep("cpu", StepOptions{true, ""}, "CPU step, 1 thread, fastest executor");
}

void runTraining(const std::string& dir, const std::string& device) {
  auto line = split(std::string(readAll(dir + "/train.txt").data(), readAll(dir + "/train.txt").size()), '|');
  std::string modelFile = line[0];
  int steps = std::stoi(line[1]);
  double lr = std::stod(line[2]);
  int64_t batch = std::stoll(line[3]), in = std::stoll(line[4]), out = std::stoll(line[5]);
  auto xs = readAll(dir + "/train.x.bin"), ys = readAll(dir + "/train.y.bin");
  auto lossBytes = readAll(dir + "/train.loss.bin"), paramBytes = readAll(dir + "/train.params.bin");
  auto model = ModelCore::loadFile(modelFile, device);
  model->module().train();
  TrainerConfig config;
  config.optimizer = "adam";
  config.lr = lr;
  Trainer trainer(model, config);
  size_t xa = 0, ya = 0;
  double worstLoss = 0;
  for (int s = 0; s < steps; ++s) {
    at::Tensor x = tensorsFrom(xs, xa, {{batch, in}})[0].to(model->device());
    at::Tensor y = tensorsFrom(ys, ya, {{batch, out}})[0].to(model->device());
    double loss = trainer.step({x}, y);
    double ref = reinterpret_cast<const double*>(lossBytes.data())[s];
    worstLoss = std::max(worstLoss, std::abs(loss - ref) / std::max(1e-12, std::abs(ref)));
  }
  std::vector<at::Tensor> params;
  for (const auto& p : model->module().named_parameters()) params.push_back(p.value.detach().cpu().reshape(-1));
  at::Tensor mine = at::cat(params);
  at::Tensor theirs = at::from_blob(paramBytes.data(), {static_cast<int64_t>(paramBytes.size() / sizeof(float))}, at::kFloat);
  double worstParam = maxAbsDiff(mine, theirs);
  check(worstLoss < 1e-4, "training M2 for " + std::to_string(steps) + " Adam steps on " + device + ": losses = PyTorch's loop",
        "max relative diff " + fmt(worstLoss));
  check(worstParam < 1e-4, "training M2: parameters after " + std::to_string(steps) + " steps = PyTorch's", "max |diff| " + fmt(worstParam) +
        " over " + std::to_string(mine.numel()) + " values");
}

#ifdef TORCHLOOP_CUDA
// The launch-bound floor: a graph of only the copy in and the copy out (pinned host memory).
void floorTiming(int64_t iters, int64_t inFloats, int64_t outFloats) {
  auto pinned = at::TensorOptions().dtype(at::kFloat).pinned_memory(true);
  at::Tensor hin = at::zeros({inFloats}, pinned), hout = at::zeros({outFloats}, pinned);
  at::Tensor din = at::zeros({inFloats}, at::TensorOptions().device(at::kCUDA)), dout = at::zeros({outFloats}, at::TensorOptions().device(at::kCUDA));
  auto stream = c10::cuda::getStreamFromPool(true);
  c10::cuda::CUDAStreamGuard guard(stream);
  at::cuda::CUDAGraph empty, copies;
  empty.capture_begin();
  empty.capture_end();
  copies.capture_begin();
  din.copy_(hin, true);
  hout.narrow(0, 0, std::min(inFloats, outFloats)).copy_(dout.narrow(0, 0, std::min(inFloats, outFloats)), true);
  copies.capture_end();
  printTiming("floor", "empty graph replay + sync", timeIt(iters, [&] { empty.replay(); stream.synchronize(); }));
  printTiming("floor", "graph of the 2 copies (" + std::to_string(inFloats) + "/" + std::to_string(outFloats) + " floats) + sync",
              timeIt(iters, [&] { copies.replay(); stream.synchronize(); }));
  // The same two copies as plain cudaMemcpyAsync calls around an empty graph.
  size_t inBytes = inFloats * sizeof(float), outBytes = std::min(inFloats, outFloats) * sizeof(float);
  printTiming("floor", "memcpyAsync in + empty graph + memcpyAsync out + sync", timeIt(iters, [&] {
                cudaMemcpyAsync(din.data_ptr(), hin.data_ptr(), inBytes, cudaMemcpyHostToDevice, stream.stream());
                empty.replay();
                cudaMemcpyAsync(hout.data_ptr(), dout.data_ptr(), outBytes, cudaMemcpyDeviceToHost, stream.stream());
                stream.synchronize();
              }));
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: gpu_check DIR [--device cuda] [--iters 20000]\n");
    return 2;
  }
  std::string dir = argv[1], device = "cuda";
  int64_t iters = 20000;
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--device")) device = argv[i + 1];
    else if (!std::strcmp(argv[i], "--iters")) iters = std::stoll(argv[i + 1]);
  }
  applyRealtimeDefaults();
  auto info = runtimeInfo();
  std::printf("libtorch %s, CUDA %s (%d device(s)), threads %d\n", info.libtorch.c_str(), info.cudaAvailable ? "available" : "absent",
              info.cudaDeviceCount, info.numThreads);
  try {
    ModelCore::loadFile(dir + "/m2.pt", "cuda:7");
    check(false, "cuda:7 on a machine without it is ERR_DEVICE", "it loaded");
  } catch (const Error& e) {
    check(e.code() == Code::Device, "cuda:7 on a machine without it is ERR_DEVICE", std::string(codeName(e.code())) + ": " + e.what());
  }
  std::ifstream list(dir + "/cases.txt");
  for (std::string line; std::getline(list, line);) {
    if (line.empty()) continue;
    auto f = split(line, '|');
    Case c{f[0], f[1], std::stoi(f[2]), {}, {}, {}};
    for (const auto& s : split(f[3], ';')) c.shapes.push_back(parseShape(s));
    try {
      auto in = readAll(dir + "/" + c.name + ".in.bin"), out = readAll(dir + "/" + c.name + ".out.bin");
      size_t at = 0;
      for (int s = 0; s < c.steps; ++s) c.inputs.push_back(tensorsFrom(in, at, c.shapes));
      int64_t per = static_cast<int64_t>(out.size() / sizeof(float)) / c.steps;
      size_t oa = 0;
      for (int s = 0; s < c.steps; ++s) c.expected.push_back(tensorsFrom(out, oa, {{per}})[0]);
      runCase(c, device, dir, iters);
    } catch (const std::exception& e) {
      check(false, c.name, e.what());
    }
  }
  if (exists(dir + "/train.txt")) {
    try {
      runTraining(dir, device);
    } catch (const std::exception& e) {
      check(false, "training M2", e.what());
    }
  }
#ifdef TORCHLOOP_CUDA
  if (device != "cpu") floorTiming(iters, 48, 12);
#endif
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
