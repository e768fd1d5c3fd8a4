// The ControlLoop's thread (control-loop.ts): builds the user's graph, applies the realtime
// settings, then ticks at the fixed rate with native pacing until told to stop. While it
// runs it posts nothing and allocates nothing of its own; stats and shared signals are in
// SharedArrayBuffers the main thread reads.
import { PerformanceObserver, performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { TorchError } from '../errors.ts';
import { importModule } from '../loader.ts';
import { native } from '../native.ts';
import { pool } from './pool.ts';
import { SharedSignal } from './shared-signal.ts';
import { InputSignal, type Signal } from './signal.ts';

const d = workerData as {
  module: string; exportName: string; options: unknown; hz: number; spinUs: number; overrun: 'skip' | 'catch-up';
  realtime: { priority?: number; cpu?: number; lockMemory?: boolean }; signals: string[];
  control: Int32Array; meta: Float64Array; hist: Int32Array[];
};
const port = parentPort!;

function report(e: unknown): void {
  const err = e as { message?: string; code?: string; signal?: string };
  const signal = err?.signal;
  const where = signal ? ` (in signal '${signal}' of entity '${signal.slice(0, signal.indexOf('.'))}')` : '';
  port.postMessage({ type: 'error', message: `${err?.message ?? String(e)}${where}`, code: err instanceof TorchError ? err.code : 'ERR_RUNTIME', signal });
}

type Built = ((t: number) => void) | { tick: (t: number) => void; dispose?: () => void; report?: () => unknown } | Signal | Signal[];

let dispose: (() => void) | undefined;
let reportFn: (() => unknown) | undefined;
let tick: (t: number) => void;
const inputs: { shared: SharedSignal; target: InputSignal }[] = [];
const outputs: { shared: SharedSignal; source: Signal }[] = [];

// Messages are never followed by process.exit() here (that may drop them): the main thread
// ends this thread once it has the last one.
async function main(): Promise<void> {
  try {
    const mod = await importModule(d.module);
    const build = mod[d.exportName];
    if (typeof build !== 'function') throw new TorchError('ERR_NOT_FOUND', `${d.module} has no function export '${d.exportName}' (ControlLoop's export option)`);
    const made = (await build(d.options)) as Built;
    if (typeof made === 'function') tick = made;
    else if (Array.isArray(made)) tick = (t) => { for (let i = 0; i < made.length; i++) made[i].recompute(t); };
    else if (made && typeof (made as { tick?: unknown }).tick === 'function') {
      tick = (made as { tick: (t: number) => void }).tick;
      dispose = (made as { dispose?: () => void }).dispose;
      reportFn = (made as { report?: () => unknown }).report;
    } else if (made && typeof (made as Signal).recompute === 'function') tick = (t) => (made as Signal).recompute(t);
    else throw new TorchError('ERR_ARGUMENT', `'${d.exportName}' returned ${typeof made}: expected a tick function, { tick }, a signal or an array of signals`);
    for (const p of d.signals) {
      const s = pool.signal(p);
      if (s instanceof InputSignal && s.source === null) {
        const v = s.value as ArrayLike<number>;
        const shared = new SharedSignal(p, 'in', v.length);
        shared.write(v, -1);
        shared.readInto(new Float64Array(v.length)); // marks it seen
        inputs.push({ shared, target: s });
      } else {
        const v = s.value as ArrayLike<number> | null;
        if (!v || typeof v.length !== 'number') throw new TorchError('ERR_ARGUMENT', `Signal '${p}' has no numeric value to share: compute it once in the build function`);
        outputs.push({ shared: new SharedSignal(p, 'out', v.length), source: s });
      }
    }
  } catch (e) {
    report(e);
    port.postMessage({ type: 'stopped', gcs: 0 });
    return;
  }

  const realtime = native.applyRealtime(d.realtime.priority ?? 0, d.realtime.cpu ?? -1, !!d.realtime.lockMemory) as string[];
  port.postMessage({ type: 'ready', realtime, shared: [...inputs, ...outputs].map(({ shared: s }) => ({ path: s.path, direction: s.direction, length: s.length, buffer: s.buffer })) });
  // Wait for the go (or a stop before it).
  while (Atomics.load(d.control, 0) === 0) Atomics.wait(d.control, 0, 0, 1000);

  // Collect what building the graph left before the loop starts, so that no collection (or
  // the end of an incremental marking begun during the build) falls into the loop.
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
  const gcTimes: number[] = [];
  const observer = new PerformanceObserver((list) => { for (const e of list.getEntries()) gcTimes.push(e.startTime); });
  observer.observe({ entryTypes: ['gc'] });
  const pacer = new native.NativePacer(d.hz, d.spinUs, d.overrun, d.meta, d.hist[0], d.hist[1], d.hist[2]);
  const control = d.control;
  const nIn = inputs.length, nOut = outputs.length;
  const t0 = performance.now();
  try {
    while (Atomics.load(control, 0) === 1) {
      const t = pacer.wait();
      for (let i = 0; i < nIn; i++) {
        const x = inputs[i];
        if (x.shared.changed) x.shared.readInto(x.target.value);
      }
      tick(t);
      for (let i = 0; i < nOut; i++) {
        const x = outputs[i];
        x.shared.write(x.source.value as ArrayLike<number>, t);
      }
      pacer.done();
    }
  } catch (e) {
    report(e);
  }
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 20)); // GC entries reach the observer in a later task
  observer.disconnect();
  let result: unknown;
  try {
    result = reportFn?.();
  } catch (e) {
    report(e);
  }
  try {
    dispose?.();
  } catch {
    // the loop has stopped; a failing dispose does not change its result
  }
  port.postMessage({ type: 'stopped', gcs: gcTimes.filter((x) => x >= t0 && x <= t1).length, report: result });
}

await main();
