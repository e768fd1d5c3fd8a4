/**
 * torchloop's main demo: a TorchScript controller in a 1 kHz control loop, from Node.
 *
 *   npm run demo                          PD controller (dg_pytorch's), 5 s
 *   npm run demo -- --policy mlp          an MLP policy (48-256-256-12) trained to imitate it
 *   npm run demo -- --seconds 10 --budget-us 20 --pace busy|none
 *
 * The controller is a TorchEntity plugged to a simulated arm (demo/arm.ts) and a reference
 * trajectory. Each tick: the arm pulls the torque for t (which pulls the controller, which
 * pulls the arm's state and the reference), then integrates. Prints the tracking error,
 * the latency of the model runs and of the whole step, and warns when a step misses its budget.
 */
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { LatencyStats, Stopwatch, TorchEntity, plug, pool, version } from '../lib/index.ts';
import { Arm, Trajectory } from './arm.ts';

const { values: opts } = parseArgs({
  options: {
    policy: { type: 'string', default: 'pd' },
    seconds: { type: 'string', default: '5' },
    'budget-us': { type: 'string', default: '1000' },
    pace: { type: 'string', default: 'busy' },
    plan: { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const models = path.join(import.meta.dirname, 'models');
const HZ = 1000;
const ticks = Math.round(Number(opts.seconds) * HZ);
const budgetMs = Number(opts['budget-us']) / 1000;
const usePolicy = opts.policy === 'mlp';

// --- the graph -----------------------------------------------------------------------
const arm = new Arm('arm');
const reference = new Trajectory('reference', 2.0);
const controller = new TorchEntity('controller', { plan: opts.plan });
if (usePolicy) {
  controller.loadModel(path.join(models, 'mlp_policy.pt'));
  for (const s of ['sin_position', 'sin_velocity', 'sin_des_position', 'sin_des_velocity']) controller.addInput(s, { shape: [1, 12] });
} else {
  controller.loadModel(path.join(models, 'script_pd_controller.pt'));
  controller.addInput('sin_kp', { shape: [1] }).value = [50];
  controller.addInput('sin_kd', { shape: [1] }).value = [10];
  for (const s of ['sin_position', 'sin_velocity', 'sin_des_position', 'sin_des_velocity']) controller.addInput(s, { shape: [1, 12] });
}
controller.addOutput('sout_torque');
plug(arm.signal('sout_position'), controller.signal('sin_position'));
plug(arm.signal('sout_velocity'), controller.signal('sin_velocity'));
plug(reference.signal('sout_position'), controller.signal('sin_des_position'));
plug(reference.signal('sout_velocity'), controller.signal('sin_des_velocity'));
plug(controller.signal('sout_torque'), arm.signal('sin_torque'));

const sig = controller.model.signature('forward');
console.log(`torchloop ${version.torchloop}, libtorch ${version.libtorch} (${version.cuda ? 'CUDA available' : 'CPU only, CUDA absent'}), ${version.threads} thread(s), BLAS ${version.blas}`);
console.log(`controller: ${usePolicy ? 'MLP policy 48-256-256-12' : 'PD (dg_pytorch)'}: forward(${sig.arguments.map((a) => `${a.name}: ${a.type}`).join(', ')}) -> ${sig.returns}`);
console.log(`graph: ${pool.list().join(', ')}; ${ticks} ticks at ${HZ} Hz, budget ${(budgetMs * 1000).toFixed(0)} µs per step, pacing: ${opts.pace}`);

const w = controller.warmup();
console.log(`warmup: ${w.runs} runs until stable (first ${(w.firstRunMs * 1000).toFixed(1)} µs, settled ${(w.settledMs * 1000).toFixed(1)} µs), path: ${w.path}`);

// --- the loop: everything below allocates nothing per tick ----------------------------
const step = new LatencyStats();
const sw = new Stopwatch();
const clock = new Float64Array(2);
const desired = reference.output('sout_position');
const sq = new Float64Array(1); // running sum of squared tracking error (a slot, not a boxed number)
const miss = new Float64Array(3); // count, worst ms, tick of worst
const report = new Float64Array(Number(opts.seconds)); // RMS error per second
const period = 1 / HZ;

function run(): void {
  Stopwatch.stamp(clock, 0);
  const start = clock[0];
  for (let t = 0; t < ticks; t++) {
    if (opts.pace === 'busy') {
      // Wait for the tick's deadline; a sleep has millisecond jitter, a spin does not.
      const deadline = start + t * 1000 * period;
      do Stopwatch.stamp(clock, 1);
      while (clock[1] < deadline);
    }
    sw.start();
    arm.increment(t, period); // pulls controller -> arm state and reference, for tick t
    const ms = sw.elapsedMs();
    step.record(ms);
    if (ms > budgetMs) {
      miss[0]++;
      if (ms > miss[1]) {
        miss[1] = ms;
        miss[2] = t;
      }
    }
    const d = desired.value;
    for (let i = 0; i < 12; i++) sq[0] += (d[i] - arm.q[i]) * (d[i] - arm.q[i]);
    if ((t + 1) % HZ === 0) {
      report[(t + 1) / HZ - 1] = Math.sqrt(sq[0] / (12 * HZ));
      sq[0] = 0;
    }
  }
}
let gcs = 0;
const gcObserver = new PerformanceObserver((list) => {
  gcs += list.getEntries().length;
});
gcObserver.observe({ entryTypes: ['gc'] });
run();
await new Promise((r) => setTimeout(r, 20)); // GC entries are delivered asynchronously
gcObserver.disconnect();

// --- report ---------------------------------------------------------------------------
report.forEach((rms, s) => console.log(`t=${s + 1}s  tracking error (RMS over joints) ${(rms * 1000).toFixed(2)} mrad`));
const us = (ms: number) => `${(ms * 1000).toFixed(1).padStart(8)} µs`;
const model = controller.latencySummary();
const whole = step.summary();
console.log('\nlatency over %d steps           p50          p99          max', whole.count);
console.log(`  last_run_duration_ms  ${us(model.p50)}  ${us(model.p99)}  ${us(model.max)}`);
console.log(`  whole step            ${us(whole.p50)}  ${us(whole.p99)}  ${us(whole.max)}   (arm + controller + reference)`);
console.log(`garbage collections during the loop: ${gcs}`);
if (miss[0] > 0) {
  console.warn(`WARNING: ${miss[0]} of ${ticks} steps missed the ${(budgetMs * 1000).toFixed(0)} µs budget; worst ${(miss[1] * 1000).toFixed(1)} µs at t=${(miss[2] / HZ).toFixed(3)} s`);
} else {
  console.log(`deadline: every step within the ${(budgetMs * 1000).toFixed(0)} µs budget`);
}
pool.clear();
