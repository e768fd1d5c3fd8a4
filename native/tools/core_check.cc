// core_check: the native core without Node. Loads a TorchScript model, runs it through the
// interpreter, the StepRunner's plan and (where libtorch has CUDA) on the GPU, checks that
// they agree, and prints per-step latency percentiles (the C++ floor).
//
//   core_check model.pt 1x48 [2x3 ...] [--device cuda[:N]] [--iters 20000] [--no-plan] [--train N]
#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/model.h"
#include "core/validate.h"
#include "core/runtime.h"
#include "core/step.h"
#include "core/trainer.h"

using namespace torchloop;

static std::vector<int64_t> parseShape(const std::string& s) {
  std::vector<int64_t> shape;
  size_t start = 0;
  while (start <= s.size()) {
    size_t x = s.find('x', start);
    shape.push_back(std::stoll(s.substr(start, x == std::string::npos ? std::string::npos : x - start)));
    if (x == std::string::npos) break;
    start = x + 1;
  }
  return shape;
}

static void report(const char* label, std::vector<int64_t>& ns) {
  std::sort(ns.begin(), ns.end());
  auto pct = [&](double p) { return ns[std::min(ns.size() - 1, static_cast<size_t>(p * ns.size()))] / 1000.0; };
  std::printf("%-28s p50 %8.2f us  p99 %8.2f us  max %8.2f us\n", label, pct(0.5), pct(0.99), ns.back() / 1000.0);
}

// --load-cost FILE...: what the validating loader adds to a load. Per file, the median of 7
// runs of the archive checks alone, and of ModelCore::loadFile (checks + libtorch's load).
static int loadCost(int argc, char** argv) {
  auto median = [](std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; };
  double sumCheck = 0, sumLoad = 0;
  for (int i = 2; i < argc; ++i) {
    std::ifstream f(argv[i], std::ios::binary);
    std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    using Fn = size_t (*)(void*, size_t, const void*, size_t, int);
    static const Fn tinfl = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "tinfl_decompress_mem_to_mem"));
    Inflate inflate = [](void* o, size_t ol, const void* in, size_t il) -> size_t { return tinfl(o, ol, in, il, 0); };
    std::vector<double> check, load;
    for (int r = 0; r < 7; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      validateArchive(raw.data(), raw.size(), inflate);
      auto t1 = std::chrono::steady_clock::now();
      ModelCore::loadFile(argv[i], "cpu");
      auto t2 = std::chrono::steady_clock::now();
      check.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      load.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
    }
    double c = median(check), l = median(load);
    sumCheck += c;
    sumLoad += l;
    std::printf("%8.3f ms checks  %8.2f ms load  %5.1f%%  %s (%zu KB)\n", c, l, 100 * c / l, argv[i], raw.size() / 1024);
  }
  std::printf("all: %.2f ms of checks in %.1f ms of loads (%.1f%%)\n", sumCheck, sumLoad, 100 * sumCheck / sumLoad);
  return 0;
}

int main(int argc, char** argv) {
  if (argc == 2 && !std::strcmp(argv[1], "--version")) {
    std::printf("libtorch %s\n", runtimeInfo().loadedLibtorch.c_str());
    return 0;
  }
  if (argc >= 3 && !std::strcmp(argv[1], "--load-cost")) return loadCost(argc, argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: core_check model.pt SHAPE [SHAPE...] [--device cuda] [--iters N] [--no-plan]\n");
    return 2;
  }
  std::string path = argv[1], device = "cpu";
  int64_t iters = 20000;
  bool usePlan = true;
  int64_t trainSteps = 0;
  std::vector<TensorSpec> specs;
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
    else if (!std::strcmp(argv[i], "--iters") && i + 1 < argc) iters = std::stoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-plan")) usePlan = false;
    else if (!std::strcmp(argv[i], "--train") && i + 1 < argc) trainSteps = std::stoll(argv[++i]);
    else specs.push_back({parseShape(argv[i]), at::kFloat});
  }
  applyRealtimeDefaults();
  auto info = runtimeInfo();
  std::printf("libtorch %s, CUDA %s (%d device(s)), threads %d, blas %s\n", info.libtorch.c_str(),
              info.cudaAvailable ? "available" : "absent", info.cudaDeviceCount, info.numThreads, info.blas.c_str());
  int failures = 0;
  try {
    auto cpu = ModelCore::loadFile(path, "cpu");
    torch::manual_seed(0);
    std::vector<c10::IValue> args;
    std::vector<at::Tensor> xs;
    for (auto& s : specs) xs.push_back(torch::randn(s.shape));
    for (auto& x : xs) args.emplace_back(x);
    c10::IValue ref = cpu->run("forward", args);
    at::Tensor refT = ref.isTensor() ? ref.toTensor() : ref.toTupleRef().elements()[0].toTensor();

    StepRunner runner(cpu, "forward", specs, StepOptions{usePlan});
    for (size_t i = 0; i < xs.size(); ++i) runner.inputs()[i].copy_(xs[i]);
    runner.prepare();
    runner.step();
    bool same = at::allclose(runner.outputs()[0], refT, 1e-4, 1e-5);
    std::printf("cpu step (%s) matches forward: %s\n", runner.planStatus().c_str(), same ? "yes" : "NO");
    failures += !same;
    std::vector<int64_t> ns(iters);
    runner.loop(iters, ns.data());
    report(("cpu step, " + runner.planStatus()).c_str(), ns);

    if (trainSteps > 0) {
      // Adam on a fixed random target: the loss must fall, save/restore must round-trip.
      auto model = ModelCore::loadFile(path, "cpu");
      TrainerConfig config;
      config.lr = 1e-2;
      config.keepGradients = true;
      config.schedule = "cosine";
      config.tMax = trainSteps;
      Trainer trainer(model, config);
      at::Tensor target = torch::randn_like(refT);
      double first = 0, last = 0;
      for (int64_t i = 0; i < trainSteps; ++i) {
        last = trainer.step(args, target);
        if (i == 0) first = last;
      }
      bool fell = last < first;
      std::printf("training: loss %.5f -> %.5f over %lld steps: %s\n", first, last, static_cast<long long>(trainSteps), fell ? "falls" : "DOES NOT FALL");
      failures += !fell;
      trainer.save("/tmp/torchloop-core-check.pt");
      auto reloaded = ModelCore::loadFile("/tmp/torchloop-core-check.pt", "cpu");
      Trainer resumed(reloaded, config);
      bool restored = resumed.restore() && resumed.optimizerSteps() == trainSteps;
      std::printf("trainer state saved and restored: %s\n", restored ? "yes" : "NO");
      failures += !restored;
    }

    if (device != "cpu") {
      auto gpu = ModelCore::loadFile(path, device);
      c10::IValue out = gpu->run("forward", args);  // inputs move to the device inside run()
      at::Tensor outT = (out.isTensor() ? out.toTensor() : out.toTupleRef().elements()[0].toTensor()).cpu();
      bool ok = at::allclose(outT, refT, 1e-3, 1e-4);
      std::printf("%s forward matches cpu: %s\n", device.c_str(), ok ? "yes" : "NO");
      failures += !ok;
      StepRunner gr(gpu, "forward", specs, StepOptions{usePlan});
      for (size_t i = 0; i < xs.size(); ++i) gr.inputs()[i].copy_(xs[i]);
      gr.prepare();
      gr.step();
      bool gok = at::allclose(gr.outputs()[0], refT, 1e-3, 1e-4);
      std::printf("%s step (%s) matches cpu: %s\n", device.c_str(), gr.planStatus().c_str(), gok ? "yes" : "NO");
      failures += !gok;
      gr.loop(iters, ns.data());
      report((device + " step incl. H2D/D2H").c_str(), ns);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "%s: %s\n", codeName(e.code()), e.what());
    return 1;
  }
  std::printf("%d passed, %d failed\n", failures ? 0 : 1, failures ? 1 : 0);
  return failures ? 1 : 0;
}
