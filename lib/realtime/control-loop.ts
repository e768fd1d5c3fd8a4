import { EventEmitter } from 'node:events';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TorchError } from '../errors.ts';
import { isTypeScript, toImportable, tsxApiUrl } from '../loader.ts';
import { native } from '../native.ts';
import { ownModule } from '../paths.ts';
import { LatencyStats, type LatencySummary } from './latency.ts';
import { serveScope, type Scope, type ScopeOptions } from './scope.ts';
import { SharedSignal } from './shared-signal.ts';

export interface RealtimeOptions {
  /** SCHED_FIFO priority (1-99) for the loop's thread. */
  priority?: number;
  /** The CPU to pin the loop's thread to. */
  cpu?: number;
  /** mlockall(MCL_CURRENT | MCL_FUTURE): no page faults in the loop. */
  lockMemory?: boolean;
}

export interface ControlLoopOptions {
  /** The module that builds the loop's graph (path, file:// URL or package; .ts works). */
  module: string | URL;
  /**
   * Its export: `(options) => tick | { tick, dispose?, report? } | Signal | Signal[]`, run in
   * the loop's thread. A tick function gets the tick number; signals are recomputed for it.
   * report() runs once the loop stops; its result comes back in stop()'s stats.
   * Default 'build'.
   */
  export?: string;
  /** Passed to the build function (structured-cloneable). */
  options?: unknown;
  /** Ticks per second. */
  hz: number;
  /** Applied to the loop's thread where the process may; each refusal is reported once ('warning'). */
  realtime?: RealtimeOptions;
  /** A tick that starts a period or more late: 'skip' to the next deadline ahead (default), or 'catch-up'. */
  overrun?: 'skip' | 'catch-up';
  /**
   * The last part of each wait that spins instead of sleeping, µs (default 300; at most half
   * the period). A sleeping thread wakes late on a VM: measured here at 1 kHz with SCHED_FIFO,
   * start jitter p99 81 µs spinning 100 µs, 19 µs spinning 400 µs, at the cost of that much CPU.
   */
  spinUs?: number;
  /** `entity.signal` paths shared with this thread: see signal(). */
  signals?: string[];
  /** How long stop() waits for a tick to finish before it terminates the thread, ms (default 2000). */
  stopTimeoutMs?: number;
}

export interface LoopStats {
  ticks: number;
  /** Deadlines missed: ticks that started a period or more late, and ticks skipped. */
  missed: number;
  /** Ticks whose compute took longer than the period. */
  overruns: number;
  skipped: number;
  /** The latest start, ms after its deadline, and its tick. */
  worstLateMs: number;
  worstLateTick: number;
  /** Start jitter (actual start minus deadline), compute time, start-to-start period; ms. */
  jitter: LatencySummary;
  compute: LatencySummary;
  period: LatencySummary;
  /** GCs in the loop's thread while it ran (known once stopped; NaN while running). */
  gcs: number;
  /** What the realtime settings did ("ok: ..." or why not). */
  realtime: string[];
  /** What the build's `report()` returned once the loop stopped (structured-cloned). */
  report?: unknown;
}

const ENTRY = pathToFileURL(ownModule('realtime/loop-worker'));
const SLOTS = native.pacerSlots as number, BUCKETS = native.pacerBuckets as number;
const META = { ticks: 0, missed: 1, worstLateMs: 2, worstLateTick: 3, overruns: 4, skipped: 5, lastStartMs: 6, jitter: 8, compute: 11, period: 14 };

/**
 * dynamic-graph-manager's realtime thread in Node: a graph built and ticked at a fixed rate in
 * a worker thread of its own, paced natively (sleep to an absolute deadline on the monotonic
 * clock, then spin the last microseconds), leaving the main thread free for sockets, timers
 * and HTTP. Timing stats live in shared memory (stats() reads them while it runs); chosen
 * signals are shared both ways under a seqlock (signal()).
 *
 * @example
 * const loop = new ControlLoop({ module: new URL('./arm-graph.ts', import.meta.url), hz: 1000, signals: ['arm.sout_position', 'reference.sin_amplitude'] });
 * loop.on('error', (e) => console.error(e.message));
 * await loop.start();
 * loop.signal('reference.sin_amplitude').value = [0.5];
 * loop.signal('arm.sout_position').value; // Float64Array, one tick's
 * const stats = await loop.stop();
 */
export class ControlLoop extends EventEmitter {
  readonly options: ControlLoopOptions;
  #worker: Worker | null = null;
  #control = new Int32Array(new SharedArrayBuffer(8));
  #meta = new Float64Array(new SharedArrayBuffer(8 * SLOTS));
  #hist = [0, 1, 2].map(() => new Int32Array(new SharedArrayBuffer(4 * BUCKETS)));
  #shared = new Map<string, SharedSignal>();
  #realtime: string[] = [];
  #gcs = Number.NaN;
  #report: unknown;
  #stopped: Promise<void> | null = null;
  #watch: NodeJS.Timeout | null = null;
  #lastMissed = 0;

  constructor(options: ControlLoopOptions) {
    super();
    if (!options || (typeof options.module !== 'string' && !(options.module instanceof URL))) {
      throw new TorchError('ERR_ARGUMENT', 'Expected { module, hz } for the ControlLoop: the module that builds its graph');
    }
    if (!(typeof options.hz === 'number' && options.hz > 0 && options.hz <= 100_000)) {
      throw new TorchError('ERR_ARGUMENT', `Expected hz between 0 and 100000 but received ${String(options.hz)}`);
    }
    if (options.overrun !== undefined && options.overrun !== 'skip' && options.overrun !== 'catch-up') {
      throw new TorchError('ERR_ARGUMENT', `Expected the overrun policy 'skip' or 'catch-up' but received ${String(options.overrun)}`);
    }
    this.options = options;
  }

  get running(): boolean {
    return this.#worker !== null;
  }

  /** Builds the graph in the loop's thread and starts ticking. Rejects if the build fails. */
  async start(): Promise<void> {
    if (this.#worker) throw new TorchError('ERR_ARGUMENT', 'The loop is already running');
    this.#control[0] = 0;
    this.#meta.fill(0);
    for (const h of this.#hist) h.fill(0);
    this.#gcs = Number.NaN;
    this.#report = undefined;
    this.#lastMissed = 0;
    const o = this.options;
    const workerData = {
      module: toImportable(o.module instanceof URL ? o.module.href : o.module),
      exportName: o.export ?? 'build',
      options: o.options,
      hz: o.hz,
      spinUs: o.spinUs ?? 300,
      overrun: o.overrun ?? 'skip',
      realtime: o.realtime ?? {},
      signals: o.signals ?? [],
      control: this.#control,
      meta: this.#meta,
      hist: this.#hist,
    };
    const worker = isTypeScript(ENTRY.href)
      ? new Worker(`import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY.href)}); })`, { eval: true, workerData })
      : new Worker(ENTRY, { workerData });
    this.#worker = worker;
    let ready!: () => void, failed!: (e: Error) => void;
    const started = new Promise<void>((res, rej) => ((ready = res), (failed = rej)));
    let done!: () => void;
    this.#stopped = new Promise<void>((res) => (done = res));
    let isReady = false;
    worker.on('message', (msg: { type: string; shared?: { path: string; direction: 'in' | 'out'; length: number; buffer: SharedArrayBuffer }[]; realtime?: string[]; message?: string; code?: string; signal?: string; gcs?: number; report?: unknown }) => {
      if (msg.type === 'ready') {
        this.#shared.clear();
        for (const s of msg.shared!) this.#shared.set(s.path, new SharedSignal(s.path, s.direction, s.length, s.buffer));
        this.#realtime = msg.realtime!;
        for (const line of this.#realtime) if (!line.startsWith('ok:')) this.emit('warning', `realtime: ${line}`);
        isReady = true;
        Atomics.store(this.#control, 0, 1);
        Atomics.notify(this.#control, 0);
        ready();
      } else if (msg.type === 'error') {
        const err = new TorchError((msg.code as never) ?? 'ERR_RUNTIME', msg.message!);
        (err as TorchError & { signal?: string }).signal = msg.signal;
        if (!isReady) failed(err);
        else this.emit('error', err);
      } else if (msg.type === 'stopped') {
        this.#gcs = msg.gcs ?? Number.NaN;
        this.#report = msg.report;
        if (!isReady) failed(new TorchError('ERR_RUNTIME', 'The control loop\'s graph could not be built'));
        void worker.terminate(); // its last message is in: end the thread (a user's timer may hold it)
      }
    });
    worker.on('error', (e) => {
      const err = e instanceof TorchError ? e : new TorchError('ERR_RUNTIME', `The control loop's thread failed: ${e.message}`);
      if (!isReady) failed(err);
      else this.emit('error', err);
    });
    worker.on('exit', () => {
      if (this.#watch) clearInterval(this.#watch);
      this.#watch = null;
      this.#worker = null;
      if (!isReady) failed(new TorchError('ERR_RUNTIME', 'The control loop\'s thread exited before its graph was built'));
      done();
    });
    await started;
    // Deadline misses, reported from here (the loop's thread posts nothing while it runs).
    this.#watch = setInterval(() => {
      const missed = this.#meta[META.missed];
      if (missed > this.#lastMissed) {
        this.#lastMissed = missed;
        this.emit('overrun', { missed, worstLateMs: this.#meta[META.worstLateMs], worstLateTick: this.#meta[META.worstLateTick] });
      }
    }, 100);
    this.#watch.unref();
  }

  /**
   * Stops after the current tick and returns the stats. A tick that does not finish within
   * stopTimeoutMs has its thread terminated. Always returns.
   */
  async stop(): Promise<LoopStats> {
    const worker = this.#worker;
    if (worker) {
      Atomics.store(this.#control, 0, 2);
      Atomics.notify(this.#control, 0);
      const timeout = this.options.stopTimeoutMs ?? 2000;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((res) => (timer = setTimeout(() => res('late'), Math.max(timeout, 3000 / this.options.hz))));
      if ((await Promise.race([this.#stopped!, late])) === 'late') {
        this.emit('warning', `stop: a tick ran past ${timeout} ms; the loop's thread was terminated`);
        await worker.terminate();
        await this.#stopped;
      }
      clearTimeout(timer);
    }
    return this.stats();
  }

  /** The timing so far, read from shared memory (the loop keeps running). */
  stats(): LoopStats {
    const m = this.#meta;
    const h = (i: number, at: number) => new LatencyStats({ buckets: this.#hist[i], meta: m, offset: at }).summary();
    return {
      ticks: m[META.ticks],
      missed: m[META.missed],
      overruns: m[META.overruns],
      skipped: m[META.skipped],
      worstLateMs: m[META.worstLateMs],
      worstLateTick: m[META.worstLateTick],
      jitter: h(0, META.jitter),
      compute: h(1, META.compute),
      period: h(2, META.period),
      gcs: this.#gcs,
      realtime: [...this.#realtime],
      ...(this.#report !== undefined ? { report: this.#report } : {}),
    };
  }

  /** A signal named in options.signals: read a consistent snapshot, or (inputs) write one. */
  signal(path: string): SharedSignal {
    const s = this.#shared.get(path);
    if (!s) {
      throw new TorchError('ERR_NOT_FOUND', this.#shared.size || this.running
        ? `'${path}' is not shared with this loop; shared: ${[...this.#shared.keys()].join(', ') || 'none'} (options.signals)`
        : `'${path}': the loop has not started; shared signals exist once start() resolves`);
    }
    return s;
  }

  /**
   * Serves a live scope on 127.0.0.1: a page plotting shared signals and the tick jitter
   * histogram while the loop runs. Start the loop first.
   */
  async scope(options: ScopeOptions = {}): Promise<Scope> {
    return serveScope(this, options);
  }

  /** @internal The jitter histogram's buckets (the scope reads them). */
  jitterBuckets(): Int32Array {
    return this.#hist[0];
  }

  /** The shared signals' paths. */
  get signals(): string[] {
    return [...this.#shared.keys()];
  }
}
