// Run by test/realtime/hot-path.test.ts in a plain node child (vitest's worker talks to
// its parent and allocates while tests run). Steps a PD TorchEntity 100,000 times, writing
// an input, timing each step with the Stopwatch and reading the output, and counts V8 GCs.
import { PerformanceObserver } from 'node:perf_hooks';
import { LatencyStats, Stopwatch, TorchEntity } from '../../lib/index.ts';
import { fixture } from './fixtures.ts';

const model = process.argv[2] ?? 'script_pd_controller.pt';
const steps = Number(process.argv[3] ?? 100_000);
const e = new TorchEntity('hot');
e.loadModel(fixture(model));
const pd = model.includes('pd');
const names = pd ? ['sin_kp', 'sin_kd', 'sin_position', 'sin_velocity', 'sin_des_position', 'sin_des_velocity'] : ['x'];
for (const n of names) e.addInput(n, pd ? {} : { shape: [1, 48] });
e.addOutput('sout');
for (const n of names) e.input(n).value = new Float32Array(pd ? (n.includes('_k') ? 1 : 12) : 48).fill(0.25);
const position = e.input(names[pd ? 2 : 0]);
const out = e.output('sout');
const next = new Float64Array(position.value.length);
const sw = new Stopwatch();
const whole = new LatencyStats();
e.warmup();

const sink = new Float32Array(out.value.length);
let tick = 0;
function loop(n: number): void {
  for (let i = 0; i < n; i++) {
    sw.start();
    next[0] = i & 15;
    position.value = next;
    out.recompute(tick++);
    sink.set(out.value); // what a control loop does with the output: hand it on
    sw.stopInto(whole);
  }
}

// Start from a clean heap, so garbage left by loading and warmup cannot be what a GC in the
// loop collects, and measure what the loop itself allocates.
loop(1000);
(globalThis as { gc?: () => void }).gc?.();
let gcs = 0;
const obs = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
obs.observe({ entryTypes: ['gc'] });
const heapBefore = process.memoryUsage().heapUsed;
loop(steps);
const heapAfter = process.memoryUsage().heapUsed;
await new Promise((r) => setTimeout(r, 50));
obs.disconnect();
console.log(JSON.stringify({ steps, gcs, heapGrowthBytes: heapAfter - heapBefore, runs: e.latency.count, acc: sink[0], run: e.latencySummary(), whole: whole.summary(), path: e.planStatus }));
