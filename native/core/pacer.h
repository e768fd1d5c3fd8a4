// Pacer: a fixed-rate clock for control loops. It sleeps to an absolute deadline on the
// monotonic clock (clock_nanosleep with TIMER_ABSTIME: no drift over hours), then spins the
// last few microseconds, and records each tick's start jitter (start minus deadline), compute
// time and period into histograms in memory the caller provides (a SharedArrayBuffer, read by
// another thread while the loop runs). libtorch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace torchloop {

// The histogram layout of lib/realtime/latency.ts: 1% buckets from 0.1 µs; [count, max, sum] in ms.
int64_t histogramBuckets();

// Meta slots (float64) of a pacer's stats block.
enum PacerSlot : int {
  kTicks = 0,         // ticks run
  kMissed = 1,        // deadlines missed (a tick started a period or more late, or was skipped)
  kWorstLateMs = 2,   // the latest start, ms after its deadline
  kWorstLateTick = 3, // its tick
  kOverruns = 4,      // ticks whose compute took longer than the period
  kSkipped = 5,       // deadlines skipped by the 'skip' policy
  kLastStartMs = 6,   // monotonic ms of the last tick's start
  kJitter = 8,        // [count, max, sum] of start jitter (ms)
  kCompute = 11,      // [count, max, sum] of compute time (ms)
  kPeriod = 14,       // [count, max, sum] of start-to-start period (ms)
  kMetaSlots = 32,
};

struct PacerMemory {
  double* meta;             // kMetaSlots float64
  int32_t* jitter;          // histogramBuckets() each
  int32_t* compute;
  int32_t* period;
};

class Pacer {
 public:
  enum class Policy { Skip, CatchUp };
  Pacer(double hz, double spinUs, Policy policy, PacerMemory memory);
  // Sleeps until the next deadline (the first: now), spins the rest, records jitter and
  // period. Returns the tick number.
  int64_t wait();
  // The tick's work is done: records its compute time, counts an overrun, and moves the next
  // deadline by the policy.
  void done();
  int64_t tick() const { return tick_; }

 private:
  int64_t periodNs_, spinNs_;
  Policy policy_;
  PacerMemory mem_;
  int64_t deadline_ = -1, start_ = 0, lastStart_ = -1, tick_ = -1;
};

int64_t monotonicNs();

// Realtime settings for the calling thread: SCHED_FIFO at `priority` (0: leave), pinning to
// `cpu` (-1: leave), mlockall (lockMemory). Each setting that cannot be applied is reported
// with the reason (e.g. "SCHED_FIFO 80: not permitted (needs CAP_SYS_NICE or root)"); what
// was applied is reported too, prefixed "ok: ".
std::vector<std::string> applyRealtime(int priority, int cpu, bool lockMemory);

}  // namespace torchloop
