/**
 * The loop section of `npm run bench`: the demo's arm and PD controller ticked at 1 kHz by
 *   (a) a setTimeout chain on the main thread (each timer aimed at the next deadline),
 *   (b) a busy-spin on the main thread (the demo's old loop),
 *   (c) ControlLoop (its own thread, native pacing),
 *   (d) the floor: the same native pacing running the controller's native step in C++ (no JS),
 * each without and with load: a bounded HTTP load on loopback against the main thread's
 * server (4 requests in flight) plus a CPU-bound process. For each: start jitter p50/p99/max,
 * missed deadlines, and the main thread's event-loop delay p99 (monitorEventLoopDelay).
 * (c) and (d) run with SCHED_FIFO 80 pinned to CPU 1 (TORCHLOOP_LOOP_REALTIME=0: neither).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { build } from '../../demo/arm-graph.ts';
import { ControlLoop, LatencyStats, Stopwatch, type LatencySummary } from '../../lib/index.ts';
import { tsxApiUrl } from '../../lib/loader.ts';
import { native } from '../../lib/native.ts';
import type { Check } from './steps.ts';

export interface LoopRow { variant: string; load: boolean; jitter: LatencySummary; missed: number; ticks: number; eventLoopP99Ms: number; eventLoopMaxMs: number; answered: number; realtime?: string[]; gcs?: number }

const HZ = 1000;
// SCHED_FIFO 80 on CPU 1 for (c) and (d); TORCHLOOP_LOOP_REALTIME=0 runs them without, to see what it changes.
const REALTIME = process.env.TORCHLOOP_LOOP_REALTIME === '0' ? { priority: 0, cpu: -1 } : { priority: 80, cpu: 1 };

async function withLoad<T>(on: boolean, url: string, run: () => Promise<T>): Promise<T> {
  const children: ChildProcess[] = [];
  if (on) {
    children.push(spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
    const client = `const url = ${JSON.stringify(url)}; const one = () => fetch(url).then((r) => r.text()).catch(() => {}).then(one); for (let i = 0; i < 4; i++) one();`;
    children.push(spawn(process.execPath, ['-e', client], { stdio: 'ignore' }));
    await new Promise((r) => setTimeout(r, 300));
  }
  try {
    return await run();
  } finally {
    for (const c of children) c.kill('SIGKILL');
  }
}

function mainThreadLoop(kind: 'timer' | 'spin', seconds: number): Promise<{ jitter: LatencySummary; missed: number; ticks: number }> {
  const g = build({ hz: HZ, seconds: 1 });
  const ticks = seconds * HZ;
  const late = new LatencyStats();
  const clock = new Float64Array(2);
  let missed = 0;
  Stopwatch.stamp(clock, 0);
  const start = clock[0] + 10;
  const period = 1000 / HZ;
  if (kind === 'spin') {
    return new Promise((resolve) => {
      // Yield once a second so the server can at least drain (as a spin loop in an app would have to).
      let t = 0;
      const chunk = () => {
        const stop = Math.min(ticks, t + HZ);
        for (; t < stop; t++) {
          const deadline = start + t * period;
          do Stopwatch.stamp(clock, 1);
          while (clock[1] < deadline);
          late.record(clock[1] - deadline);
          if (clock[1] - deadline >= period) missed++;
          g.tick(t);
        }
        if (t < ticks) setImmediate(chunk);
        else {
          g.dispose();
          resolve({ jitter: late.summary(), missed, ticks });
        }
      };
      chunk();
    });
  }
  return new Promise((resolve) => {
    let t = 0;
    const next = () => {
      Stopwatch.stamp(clock, 1);
      const deadline = start + t * period;
      if (clock[1] < deadline) {
        setTimeout(next, Math.max(0, deadline - clock[1] - 0.5));
        return;
      }
      late.record(clock[1] - deadline);
      if (clock[1] - deadline >= period) {
        missed += Math.floor((clock[1] - deadline) / period);
        t += Math.floor((clock[1] - deadline) / period); // skip to the deadline ahead, as ControlLoop does
      }
      g.tick(t++);
      if (t < ticks) setTimeout(next, Math.max(0, start + t * period - clock[1] - 0.5));
      else {
        g.dispose();
        resolve({ jitter: late.summary(), missed, ticks: t });
      }
    };
    setTimeout(next, 10);
  });
}

export async function loopBench(opts: { seconds: number }): Promise<{ rows: LoopRow[]; checks: Check[] }> {
  let answered = 0;
  const server = createServer((_q, s) => {
    answered++;
    s.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const rows: LoopRow[] = [];
  const variants = ['a: setTimeout on the main thread', 'b: busy-spin on the main thread', 'c: ControlLoop', 'd: floor (native pacing + native step)'];
  for (const load of [false, true]) {
    for (const variant of variants) {
      answered = 0;
      const delay = monitorEventLoopDelay({ resolution: 1 });
      delay.enable();
      const row = await withLoad(load, url, async (): Promise<Omit<LoopRow, 'variant' | 'load' | 'eventLoopP99Ms' | 'eventLoopMaxMs' | 'answered'>> => {
        if (variant.startsWith('a')) return mainThreadLoop('timer', opts.seconds);
        if (variant.startsWith('b')) return mainThreadLoop('spin', opts.seconds);
        if (variant.startsWith('c')) {
          const loop = new ControlLoop({ module: new URL('../../demo/arm-graph.ts', import.meta.url), options: { hz: HZ, seconds: 1 }, hz: HZ, spinUs: 300, realtime: REALTIME });
          await loop.start();
          await new Promise((r) => setTimeout(r, opts.seconds * 1000));
          const s = await loop.stop();
          return { jitter: s.jitter, missed: s.missed, ticks: s.ticks, realtime: s.realtime, gcs: s.gcs };
        }
        const meta = new Float64Array(new SharedArrayBuffer(8 * native.pacerSlots));
        const hist = [0, 1, 2].map(() => new Int32Array(new SharedArrayBuffer(4 * native.pacerBuckets)));
        const entry = new URL('./loop-floor.ts', import.meta.url).href;
        const worker = new Worker(`import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); })`, {
          eval: true, workerData: { hz: HZ, ticks: opts.seconds * HZ, spinUs: 300, meta, hist, realtime: REALTIME },
        });
        const msg = await new Promise<{ realtime: string[] }>((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
        await worker.terminate();
        const jitter = new LatencyStats({ buckets: hist[0], meta, offset: 8 }).summary();
        return { jitter, missed: meta[1], ticks: meta[0], realtime: msg.realtime };
      });
      delay.disable();
      rows.push({ variant, load, ...row, eventLoopP99Ms: delay.percentile(99) / 1e6, eventLoopMaxMs: delay.max / 1e6, answered });
      const r = rows[rows.length - 1];
      console.log(`  ${load ? 'load   ' : 'no load'} ${variant.padEnd(40)} jitter p50 ${(r.jitter.p50 * 1000).toFixed(1)} µs, p99 ${(r.jitter.p99 * 1000).toFixed(1)} µs, max ${(r.jitter.max * 1000).toFixed(1)} µs; missed ${r.missed}/${r.ticks}; main event-loop delay p99 ${r.eventLoopP99Ms.toFixed(2)} ms, max ${r.eventLoopMaxMs.toFixed(1)} ms; HTTP answered ${answered}`);
    }
  }
  server.close();
  const checks: Check[] = [];
  for (const load of [false, true]) {
    const c = rows.find((r) => r.load === load && r.variant.startsWith('c'))!, d = rows.find((r) => r.load === load && r.variant.startsWith('d'))!;
    const tag = load ? 'under load' : 'no load';
    checks.push({ model: 'loop', what: `ControlLoop jitter p99 / floor's (${tag})`, value: c.jitter.p99 / d.jitter.p99, target: '<= 1.5', ok: c.jitter.p99 <= 1.5 * d.jitter.p99 });
    checks.push({ model: 'loop', what: `ControlLoop jitter max / floor's (${tag})`, value: c.jitter.max / d.jitter.max, target: '<= 2', ok: c.jitter.max <= 2 * d.jitter.max });
    checks.push({ model: 'loop', what: `main-thread event-loop delay p99 ms while ControlLoop runs (${tag})`, value: c.eventLoopP99Ms, target: '< 5', ok: c.eventLoopP99Ms < 5 });
    checks.push({ model: 'loop', what: `GCs in the ControlLoop thread (${tag})`, value: c.gcs ?? NaN, target: '0', ok: c.gcs === 0 });
  }
  return { rows, checks };
}
