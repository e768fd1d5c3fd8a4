#include "pacer.h"

#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include <cerrno>
#include <algorithm>
#include <cmath>
#include <cstring>

namespace torchloop {

namespace {
constexpr double kMinMs = 1e-4;
const double kGrowth = std::log(1.01);

void record(int32_t* buckets, double* meta, double ms) {
  const int64_t n = histogramBuckets();
  int64_t i = ms <= kMinMs ? 0 : static_cast<int64_t>(std::floor(std::log(ms / kMinMs) / kGrowth)) + 1;
  if (i >= n) i = n - 1;
  if (i < 0) i = 0;
  buckets[i]++;
  meta[0] += 1;
  if (ms > meta[1]) meta[1] = ms;
  meta[2] += ms;
}
}  // namespace

int64_t histogramBuckets() {
  static const int64_t n = static_cast<int64_t>(std::ceil(std::log(1e4 / kMinMs) / kGrowth)) + 1;
  return n;
}

int64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000LL + ts.tv_nsec;
}

Pacer::Pacer(double hz, double spinUs, Policy policy, PacerMemory memory)
    : periodNs_(static_cast<int64_t>(std::llround(1e9 / hz))), spinNs_(static_cast<int64_t>(spinUs * 1000)), policy_(policy), mem_(memory) {
  // Never spin a whole period: a SCHED_FIFO thread that never sleeps is throttled by the
  // kernel (sched_rt_runtime_us), a 50 ms stall measured here with a 1 ms spin at 1 kHz.
  spinNs_ = std::min(spinNs_, periodNs_ / 2);
}

int64_t Pacer::wait() {
  if (deadline_ < 0) deadline_ = monotonicNs();
  const int64_t wake = deadline_ - spinNs_;
  if (monotonicNs() < wake) {
    timespec ts{static_cast<time_t>(wake / 1000000000LL), static_cast<long>(wake % 1000000000LL)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
  }
  int64_t now;
  while ((now = monotonicNs()) < deadline_) {
  }
  start_ = now;
  ++tick_;
  const double lateMs = (now - deadline_) / 1e6;
  record(mem_.jitter, mem_.meta + kJitter, lateMs);
  if (lastStart_ >= 0) record(mem_.period, mem_.meta + kPeriod, (now - lastStart_) / 1e6);
  lastStart_ = now;
  if (lateMs > mem_.meta[kWorstLateMs]) {
    mem_.meta[kWorstLateMs] = lateMs;
    mem_.meta[kWorstLateTick] = static_cast<double>(tick_);
  }
  if (now - deadline_ >= periodNs_) mem_.meta[kMissed] += 1;
  mem_.meta[kLastStartMs] = now / 1e6;
  return tick_;
}

void Pacer::done() {
  const int64_t now = monotonicNs();
  record(mem_.compute, mem_.meta + kCompute, (now - start_) / 1e6);
  if (now - start_ > periodNs_) mem_.meta[kOverruns] += 1;
  mem_.meta[kTicks] += 1;
  deadline_ += periodNs_;
  if (policy_ == Policy::Skip && now > deadline_) {
    // Start again at the first deadline still ahead: the ticks in between are not run.
    const int64_t behind = (now - deadline_) / periodNs_ + 1;
    deadline_ += behind * periodNs_;
    mem_.meta[kSkipped] += static_cast<double>(behind);
    mem_.meta[kMissed] += static_cast<double>(behind);
  }
}

std::vector<std::string> applyRealtime(int priority, int cpu, bool lockMemory) {
  std::vector<std::string> out;
  auto why = [](int err) {
    return err == EPERM ? std::string("not permitted (needs CAP_SYS_NICE, an rtprio limit, or root)") : std::string(std::strerror(err));
  };
  if (priority > 0) {
    sched_param p{};
    p.sched_priority = priority;
    int err = pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
    out.push_back(err ? "SCHED_FIFO " + std::to_string(priority) + ": " + why(err) : "ok: SCHED_FIFO " + std::to_string(priority));
  }
  if (cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    int err = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    out.push_back(err ? "pinning to CPU " + std::to_string(cpu) + ": " + std::strerror(err) : "ok: pinned to CPU " + std::to_string(cpu));
  }
  if (lockMemory) {
    int err = mlockall(MCL_CURRENT | MCL_FUTURE) ? errno : 0;
    out.push_back(err ? "mlockall: " + (err == EPERM || err == ENOMEM ? std::string("not permitted (needs CAP_IPC_LOCK or a memlock limit, or root)") : std::string(std::strerror(err)))
                      : "ok: memory locked (mlockall)");
  }
  return out;
}

}  // namespace torchloop
