import { TorchError, describe } from '../errors.ts';
import { Model, type LoadOptions, type ModelSource } from '../model.ts';
import type { NativeStep } from '../native.ts';
import type { Tensor } from '../tensor.ts';
import { Entity, type OutputSpec } from './entity.ts';
import { LatencyStats, type LatencySummary } from './latency.ts';
import type { Pool } from './pool.ts';
import { InputSignal, OutputSignal, ScalarSignal, type SignalArray, type SignalSpec } from './signal.ts';

export interface TorchEntityOptions {
  pool?: Pool;
  /**
   * Run the model as a plan of ATen out-variant calls into preallocated tensors when its
   * graph allows (linear, matmul, addmm, elementwise, tanh/relu/sigmoid, cat), checked
   * against the TorchScript interpreter; otherwise the interpreter runs it. Default true.
   */
  plan?: boolean;
  /** The method that a step runs (default `forward`). */
  method?: string;
}

export interface WarmupOptions {
  /** At least this many runs (default 20). */
  minRuns?: number;
  /** At most this many runs (default 2000). */
  maxRuns?: number;
  /** Runs compared per window (default 10): warm when two successive windows' medians agree. */
  window?: number;
  /** How close the medians must be, as a ratio (default 1.05). */
  tolerance?: number;
}

export interface WarmupReport {
  /** Runs it took to settle. */
  runs: number;
  /** The first run's duration, ms (the spike warmup absorbs). */
  firstRunMs: number;
  /** Median of the last window, ms. */
  settledMs: number;
  /** "plan (N ops)" or "interpreter (why)". */
  path: string;
}

/**
 * dg_pytorch in Node: an entity around a TorchScript model. Inputs are the method's
 * arguments in addInput order; outputs are its result (one tensor, or a tuple in addOutput
 * order). After binding, input signals write straight into the tensors libtorch reads and
 * outputs are views of the tensors it writes: a step allocates nothing.
 *
 * @example
 * const pd = new TorchEntity('pd_controller');
 * pd.loadModel('script_pd_controller.pt');
 * for (const s of ['sin_kp', 'sin_kd', 'sin_position', 'sin_velocity', 'sin_des_position', 'sin_des_velocity']) pd.addInput(s);
 * pd.addOutput('sout_torque');
 * pd.signal('sin_kp').value = [5]; // ... every input
 * pd.warmup();
 * pd.signal('sout_torque').recompute(t);
 * pd.signal('sout_torque').value; // Float32Array view
 */
export class TorchEntity extends Entity {
  #model: Model | null = null;
  #ownsModel = false;
  #inputs: InputSignal[] = [];
  #outputs: OutputSignal[] = [];
  #step: NativeStep | null = null;
  #stepFn: (() => void) | null = null;
  #stats: Float64Array | null = null;
  // Runs the model at most once per tick for all outputs: an output signal whose dependencies
  // are the input signals (this very array, so later addInput calls count) and whose compute
  // is the native step.
  #run: OutputSignal;
  #options: TorchEntityOptions;
  #latency = new LatencyStats();

  constructor(name: string, options: TorchEntityOptions = {}) {
    super(name, { pool: options.pool });
    this.#options = options;
    this.#run = new OutputSignal(this, '<run>', this.#inputs, () => (this.#stepFn ?? this.#bindStep())(), null);
    this.addSignal(new ScalarSignal(this, 'last_run_duration_ms', () => (this.#stats ? this.#stats[0] : NaN), [this.#run]));
  }

  /** Loads the TorchScript model (a path, URL or bytes) or takes a loaded Model. */
  loadModel(source: ModelSource | Model, options?: LoadOptions): this {
    this.#unbind();
    if (this.#ownsModel) this.#model?.dispose();
    if (source instanceof Model) {
      this.#model = source;
      this.#ownsModel = false;
    } else {
      this.#model = Model.loadSync(source, options);
      this.#ownsModel = true;
    }
    return this;
  }

  /** The underlying model. */
  get model(): Model {
    if (!this.#model) throw new TorchError('ERR_ARGUMENT', `Entity '${this.name}' has no model: call loadModel() first`);
    return this.#model;
  }

  /** Adds an input; its position is the position of the method's argument. */
  override addInput(name: string, spec: SignalSpec = {}): InputSignal {
    const s = super.addInput(name, spec);
    this.#inputs.push(s);
    this.#unbind();
    return s;
  }

  /**
   * Adds an output. Without `compute`, it is the model's next result tensor (a tuple's
   * elements in addOutput order); with `compute`, an ordinary computed output.
   */
  override addOutput(name: string, spec?: Partial<OutputSpec>): OutputSignal {
    if (spec?.compute) return super.addOutput(name, spec as OutputSpec);
    const s = this.addSignal(new OutputSignal(this, name, [this.#run], null, null));
    this.#outputs.push(s);
    this.#unbind();
    return s;
  }

  /** Duration of the last model run in milliseconds (the `last_run_duration_ms` signal). */
  get lastRunDurationMs(): number {
    return this.#stats ? this.#stats[0] : NaN;
  }

  /** @internal The native step (benchmarks use its trace()). */
  get nativeStep(): NativeStep {
    return this.#bind();
  }

  /** How steps run: "plan (N ops)" or "interpreter (why)". */
  get planStatus(): string {
    return this.#bind().planStatus();
  }

  /** Latency of the model runs since warmup (or resetStats()), recorded by the native step. */
  get latency(): LatencyStats {
    return this.#latency;
  }

  /** p50 / p99 / max of the model runs since warmup, in ms. */
  latencySummary(): LatencySummary {
    return this.latency.summary();
  }

  resetStats(): void {
    this.latency.reset();
  }

  /**
   * Runs the model until its run time settles, without using time ticks: set realistic
   * input values first. Measured here: after binding, both the plan and the interpreter
   * settle within a few runs; the report says how many it took.
   */
  warmup(options: WarmupOptions = {}): WarmupReport {
    const minRuns = options.minRuns ?? 20;
    const maxRuns = options.maxRuns ?? 2000;
    const window = options.window ?? 10;
    const tolerance = options.tolerance ?? 1.05;
    for (const s of this.#inputs) {
      if (!s.ready) throw new TorchError('ERR_ARGUMENT', `Input signal '${s.path}' has no value and is not plugged: set realistic values before warmup()`);
    }
    const step = this.#bind();
    // Plugged inputs take their sources' current values, without advancing any time tick.
    for (const s of this.#inputs) s.copyFromSource();
    if (step.prepare()) this.#rebindOutputs(step);
    const stats = this.#stats!;
    const durations = new Float64Array(maxRuns);
    const median = (from: number, to: number) => {
      const w = Array.from(durations.subarray(from, to)).sort((a, b) => a - b);
      return w[w.length >> 1];
    };
    let runs = 0;
    for (; runs < maxRuns; runs++) {
      this.#warmRun();
      durations[runs] = stats[0];
      const n = runs + 1;
      if (n >= minRuns && n >= 2 * window) {
        const recent = median(n - window, n);
        const before = median(n - 2 * window, n - window);
        if (Math.max(recent, before) <= tolerance * Math.min(recent, before)) {
          runs = n;
          break;
        }
      }
    }
    this.latency.reset();
    // Warmup used no time tick: every signal of this entity is due at any t.
    for (const name of this.signalNames()) this.signal(name).time = Number.NEGATIVE_INFINITY;
    this.#run.time = Number.NEGATIVE_INFINITY;
    return { runs, firstRunMs: durations[0], settledMs: median(Math.max(0, runs - window), runs), path: step.planStatus() };
  }

  /** Runs one step for time t and returns the first output (a convenience for loops). */
  step(t: number): SignalArray {
    const out = this.#outputs[0];
    if (!out) throw new TorchError('ERR_ARGUMENT', `Entity '${this.name}' has no model outputs: call addOutput()`);
    out.recompute(t);
    return out.value;
  }

  override dispose(): void {
    if (this.disposed) return;
    this.#unbind();
    if (this.#ownsModel) this.#model?.dispose();
    this.#model = null;
    super.dispose();
  }

  /**
   * One run through the same JavaScript path a step takes (input signals, the native step,
   * the latency record), so the JIT has compiled it before the first real tick. Plugged
   * inputs are not pulled: that would run other entities.
   */
  #warmRun(): void {
    const inputs = this.#inputs;
    for (let i = 0; i < inputs.length; i++) if (inputs[i].source === null) inputs[i].recompute(Number.NaN);
    this.#stepOnce();
  }

  #stepOnce(): void {
    (this.#stepFn ?? this.#bindStep())(); // records its run time in the native histogram behind this.latency
  }

  #bindStep(): () => void {
    this.#bind();
    return this.#stepFn!;
  }

  /** Creates the native step: input tensors become the input signals' buffers, outputs become views. */
  #bind(): NativeStep {
    if (this.#step) return this.#step;
    if (this.disposed) throw new TorchError('ERR_DISPOSED', `Entity '${this.name}' has been disposed`);
    const model = this.model;
    if (this.#outputs.length === 0) throw new TorchError('ERR_ARGUMENT', `Entity '${this.name}' has no model outputs: call addOutput()`);
    const method = this.#options.method ?? 'forward';
    const sig = model.signature(method);
    const required = sig.arguments.filter((a) => !a.hasDefault).length;
    if (this.#inputs.length < required || this.#inputs.length > sig.arguments.length) {
      throw new TorchError(
        'ERR_ARGUMENT',
        `Entity '${this.name}' has ${this.#inputs.length} input signal(s) but ${method}(${sig.arguments.map((a) => a.name).join(', ')}) takes ${required}` +
          (required === sig.arguments.length ? '' : ` to ${sig.arguments.length}`),
      );
    }
    const specs = this.#inputs.map((s) => {
      const shape = s.shape ?? (s.source?.length !== undefined ? [s.source.length] : null);
      if (!shape) throw new TorchError('ERR_ARGUMENT', `Input signal '${s.path}' has no value and is not plugged: its shape is unknown`);
      return { shape: [...shape], dtype: s.dtype };
    });
    const step = model.createStep(method, specs, { plan: this.#options.plan ?? true });
    const views = step.inputs();
    this.#inputs.forEach((s, i) => s.rebind(views[i].data as SignalArray));
    this.#step = step;
    this.#stepFn = step.stepFunction();
    this.#stats = step.stats().data as Float64Array;
    this.#latency = new LatencyStats({ buckets: step.histogram().data as Int32Array, meta: this.#stats, offset: 2 });
    this.#rebindOutputs(step);
    return step;
  }

  #rebindOutputs(step: NativeStep): void {
    const outs = step.outputs();
    if (outs.length < this.#outputs.length) {
      throw new TorchError('ERR_ARGUMENT', `Entity '${this.name}' declares ${this.#outputs.length} outputs but the model returns ${outs.length} tensor(s)`);
    }
    this.#outputs.forEach((s, i) => {
      const t: Tensor = outs[i];
      if (!(t.data instanceof Float32Array) && !(t.data instanceof Float64Array)) {
        throw new TorchError('ERR_DTYPE', `Output '${s.path}' is a ${t.dtype} tensor; signals hold float32 or float64 (received ${describe(t.data)})`);
      }
      s.rebind(t.data);
    });
  }

  #unbind(): void {
    if (!this.#step) return;
    // Input signals keep their values in buffers of their own.
    for (const s of this.#inputs) {
      const v = s.shape ? s.value : null;
      if (v) s.rebind(v instanceof Float32Array ? new Float32Array(v) : new Float64Array(v));
    }
    this.#step.dispose();
    this.#step = null;
    this.#stepFn = null;
    this.#stats = null;
    this.#latency = new LatencyStats();
  }
}
