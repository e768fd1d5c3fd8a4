/**
 * torchloop's main demo: a published policy walks its robot in MuJoCo (demo/walk.ts), or a
 * TorchScript controller drives a 12-joint arm in a 1 kHz control loop, from Node.
 *
 *   npm run demo                         the Unitree H1 walks in MuJoCo in a ControlLoop for 10 s,
 *                                        beside the 3D scope and an HTTP server (demo/walk.ts)
 *   npm run demo -- --plant arm          the arm in a ControlLoop (its own thread, native pacing)
 *                                        for 10 s, beside a live scope and an HTTP server
 *   npm run demo -- --policy mlp         an MLP policy (48-256-256-12) trained to imitate the PD
 *   npm run demo -- --host spin          today's comparison: a busy-spin on the main thread
 *   npm run demo -- --seconds 30 --scope-port 8080 --keep-open
 *
 * The graph is demo/arm-graph.ts: the arm, a reference, the controller. While the loop runs
 * the main thread serves the scope (plots of the arm's position and the controller's torque,
 * the tick-jitter histogram) and answers HTTP requests, which this demo also sends itself,
 * measuring the main thread's event-loop delay. It prints tracking error, model-run latency,
 * tick jitter, missed deadlines and that delay.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ControlLoop, LatencyStats, Stopwatch, haveRobots, pool, version } from '../lib/index.ts';
import { ROBOTS_HELP, robotSearchPath } from '../lib/sim/robots.ts';
import { build } from './arm-graph.ts';
import { USAGE } from './walk.ts';

const first = parseArgs({ options: { plant: { type: 'string', default: 'h1' }, help: { type: 'boolean', short: 'h' } }, strict: false }).values;
const plant = first.help ? 'arm' : first.plant; // --help: the arm's parser prints both usages
if (plant !== 'arm' && plant !== 'h1') {
  console.error(`Expected --plant h1 or --plant arm but received '${plant}'`);
  process.exit(2);
}
if (plant === 'h1') {
  if (haveRobots()) {
    const { walk } = await import('./walk.ts');
    await walk(process.argv.slice(2));
    process.exit(0);
  }
  console.log(`The H1 demo needs unitree_rl_gym's robot files; none in ${robotSearchPath().join(', ')}.\n${ROBOTS_HELP}.\nRunning the arm demo instead (--plant arm).\n`);
}

const { values: opts } = parseArgs({
  options: {
    plant: { type: 'string', default: 'h1' },
    policy: { type: 'string', default: 'pd' },
    seconds: { type: 'string', default: '10' },
    host: { type: 'string', default: 'loop' },
    hz: { type: 'string', default: '1000' },
    'scope-port': { type: 'string', default: '0' },
    'keep-open': { type: 'boolean', default: false },
    plan: { type: 'boolean', default: true },
    priority: { type: 'string', default: '80' },
    cpu: { type: 'string', default: '1' },
    help: { type: 'boolean', short: 'h', default: false },
  },
  allowNegative: true,
});
if (opts.help) {
  console.log(`${USAGE}\nnpm run demo -- --plant arm [--policy pd|mlp] [--host loop|spin] [--seconds N] [--hz N] [--scope-port P] [--keep-open] [--priority P] [--cpu C] [--no-plan]`);
  process.exit(0);
}
const HZ = Number(opts.hz), seconds = Number(opts.seconds), ticks = Math.round(seconds * HZ);
const policy = opts.policy === 'mlp' ? 'mlp' : 'pd';
if (policy === 'mlp') {
  // Trained by PyTorch once, on first use (about 25 s): the PD demo does not wait for it.
  execFileSync(process.execPath, [fileURLToPath(new URL('../scripts/setup.mjs', import.meta.url)), '--quiet', '--demo-mlp'], { stdio: 'inherit' });
}
console.log(`torchloop ${version.torchloop}, libtorch ${version.libtorch} (${version.cuda ? 'CUDA available' : 'CPU only, CUDA absent'}), ${version.threads} thread(s), BLAS ${version.blas}`);
console.log(`controller: ${policy === 'mlp' ? 'MLP policy 48-256-256-12' : 'PD (dg_pytorch)'}; ${ticks} ticks at ${HZ} Hz; host: ${opts.host === 'spin' ? 'busy-spin on the main thread' : 'ControlLoop (own thread, native pacing)'}`);

// The main thread's own work while the loop runs: an HTTP server, asked every 10 ms.
const delay = monitorEventLoopDelay({ resolution: 1 });
let answered = 0;
const server = createServer((_req, res) => {
  answered++;
  res.end('ok\n');
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
let asked = 0;
const asker = setInterval(() => {
  asked++;
  fetch(api).then((r) => r.text()).catch(() => {});
}, 10);

const us = (ms: number) => `${(ms * 1000).toFixed(1).padStart(8)} µs`;
let report: { rmsPerSecond: number[]; model: { p50: number; p99: number; max: number; count: number }; path: string; warmup: { runs: number; firstRunMs: number; settledMs: number } };
let jitter: { p50: number; p99: number; max: number }, missed = 0, gcs = 0, worst = '';

if (opts.host === 'spin') {
  // The main thread spins to each deadline: nothing else here runs until the loop ends.
  const g = build({ policy, hz: HZ, plan: opts.plan, seconds });
  const clock = new Float64Array(2);
  const late = new LatencyStats();
  let gcCount = 0;
  const obs = new PerformanceObserver((list) => (gcCount += list.getEntries().length));
  obs.observe({ entryTypes: ['gc'] });
  delay.enable();
  Stopwatch.stamp(clock, 0);
  const start = clock[0];
  for (let t = 0; t < ticks; t++) {
    const deadline = start + t * (1000 / HZ);
    do Stopwatch.stamp(clock, 1);
    while (clock[1] < deadline);
    late.record(clock[1] - deadline);
    if (clock[1] - deadline >= 1000 / HZ) missed++;
    g.tick(t);
  }
  await new Promise((r) => setTimeout(r, 20));
  obs.disconnect();
  gcs = gcCount;
  jitter = late.summary();
  report = g.report();
  g.dispose();
} else {
  const loop = new ControlLoop({
    module: new URL('./arm-graph.ts', import.meta.url),
    options: { policy, hz: HZ, plan: opts.plan, seconds },
    hz: HZ,
    realtime: { priority: Number(opts.priority), cpu: Number(opts.cpu), lockMemory: false },
    signals: ['arm.sout_position', 'controller.sout_torque', 'monitor.sout_error'],
  });
  loop.on('warning', (w) => console.log(`note: ${w}`));
  loop.on('error', (e) => console.error(`the loop stopped: ${e.message}`));
  await loop.start();
  const scope = await loop.scope({ port: Number(opts['scope-port']) });
  console.log(`scope: ${scope.url}  (open it in a browser; HTTP on the main thread: ${api})`);
  delay.enable();
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end && loop.running) {
    await new Promise((r) => setTimeout(r, 1000));
    const s = loop.stats();
    console.log(`  t=${(s.ticks / HZ).toFixed(0).padStart(3)} s  tracking error now ${(loop.signal('monitor.sout_error').value[0] * 1000).toFixed(2)} mrad, jitter p99 ${us(s.jitter.p99)}, missed ${s.missed}`);
  }
  const s = await loop.stop();
  if (opts['keep-open']) {
    console.log('the loop has stopped; the scope stays open until Ctrl-C');
    await new Promise(() => {});
  }
  await scope.close();
  jitter = s.jitter;
  missed = s.missed;
  gcs = s.gcs;
  worst = s.worstLateMs > 0 ? ` (latest start ${us(s.worstLateMs).trim()} after its deadline, tick ${s.worstLateTick})` : '';
  report = s.report as typeof report;
  console.log(`realtime settings: ${s.realtime.join('; ')}`);
}
delay.disable();
clearInterval(asker);
await new Promise((r) => setTimeout(r, 50));
server.close();

console.log(`\ncontroller path: ${report.path}; warmup ${report.warmup.runs} runs (first ${us(report.warmup.firstRunMs).trim()}, settled ${us(report.warmup.settledMs).trim()})`);
report.rmsPerSecond.forEach((rms, i) => console.log(`t=${i + 1}s  tracking error (RMS over joints) ${(rms * 1000).toFixed(2)} mrad`));
console.log(`\n                         p50          p99          max`);
console.log(`  model run          ${us(report.model.p50)}  ${us(report.model.p99)}  ${us(report.model.max)}   (last_run_duration_ms, ${report.model.count} runs)`);
console.log(`  tick start jitter  ${us(jitter.p50)}  ${us(jitter.p99)}  ${us(jitter.max)}`);
console.log(`missed deadlines: ${missed} of ${ticks}${worst}; GCs in the loop: ${gcs}`);
console.log(`main thread: event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms, max ${(delay.max / 1e6).toFixed(2)} ms; HTTP requests answered during the run: ${answered} of ${asked}`);
pool.clear();
