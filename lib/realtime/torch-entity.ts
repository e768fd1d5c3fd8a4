import { TorchError, describe } from '../errors.ts';
import { Model, type Argument, type LoadOptions, type ModelSource, type Value } from '../model.ts';
import type { ArgumentSignature, NativeStep, StepArgSpec } from '../native.ts';
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

/** A model output as a signal: the next result tensor, or the one at a place in the result. */
export interface TorchOutputSpec extends Partial<OutputSpec> {
  /** The result's place: "1.0" (a tuple's element), "forces" (a dict key); see `outputNames`. */
  from?: string;
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
 *
 * Arguments other than a plain tensor: a tuple takes an input signal per element (depth
 * first), a Dict[str, Tensor] one per key (signals declared with `key`, or all the remaining
 * ones, keyed by name), an int/float/bool/str argument a constant set with setParameter().
 * A tuple or dict result gives an output per tensor (`outputNames`). feedback() copies an
 * output into an input after each step (an LSTM's state).
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
  #parameters = new Map<string, unknown>();
  #outputFrom = new Map<OutputSignal, string>();
  #feedback: { from: OutputSignal; to: InputSignal }[] = [];
  #feedbackNames: [string, string][] = [];
  #outputNames: string[] = [];

  constructor(name: string, options: TorchEntityOptions = {}) {
    super(name, { pool: options.pool });
    this.#options = options;
    this.#run = new OutputSignal(this, '<run>', this.#inputs, () => this.#stepOnce(), null);
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
  override addOutput(name: string, spec?: TorchOutputSpec): OutputSignal {
    if (spec?.compute) return super.addOutput(name, spec as OutputSpec);
    const s = this.addSignal(new OutputSignal(this, name, [this.#run], null, null));
    this.#outputs.push(s);
    if (spec?.from !== undefined) {
      if (typeof spec.from !== 'string') throw new TorchError('ERR_ARGUMENT', `Expected a string for the 'from' of output '${s.path}' but received ${describe(spec.from)}`);
      this.#outputFrom.set(s, spec.from);
    }
    this.#unbind();
    return s;
  }

  /**
   * Sets a constant for a method argument that is not a tensor (an int, float, bool or str,
   * e.g. Silero VAD's `sr`), by the argument's name. It is passed on every step.
   */
  setParameter(argument: string, value: number | boolean | string): this {
    if (typeof argument !== 'string') throw new TorchError('ERR_ARGUMENT', `Expected an argument name but received ${describe(argument)}`);
    if (typeof value !== 'number' && typeof value !== 'boolean' && typeof value !== 'string') {
      throw new TorchError('ERR_ARGUMENT', `Expected a number, boolean or string for parameter '${argument}' but received ${describe(value)}`);
    }
    this.#parameters.set(argument, value);
    this.#unbind();
    return this;
  }

  /**
   * After each step, copies output `from` into input `to` (same size): recurrent state fed
   * back, as the anydrive LSTM's (h, c). No allocation; the input keeps the value until the
   * next step.
   */
  feedback(from: string, to: string): this {
    const out = this.signal(from), input = this.signal(to);
    if (!(out instanceof OutputSignal) || !this.#outputs.includes(out)) throw new TorchError('ERR_ARGUMENT', `'${this.name}.${from}' is not a model output of this entity`);
    if (!(input instanceof InputSignal) || !this.#inputs.includes(input)) throw new TorchError('ERR_ARGUMENT', `'${this.name}.${to}' is not an input of this entity`);
    this.#feedbackNames.push([from, to]);
    this.#unbind();
    return this;
  }

  /** Each model result's place ("0", "1.0", "forces"), in the order outputs take them. */
  get outputNames(): string[] {
    this.#bind();
    return [...this.#outputNames];
  }

  /** Calls another method of the model (e.g. `reset_memory`, `reset`), synchronously. */
  call<R extends Value = Value>(method: string, ...args: Argument[]): R {
    return this.model.callSync(method, ...args);
  }

  /** Duration of the last model run in milliseconds (the `last_run_duration_ms` signal). */
  get lastRunDurationMs(): number {
    return this.#stats ? this.#stats[0] : NaN;
  }

  /** @internal The native step (benchmarks use its trace()). */
  get nativeStep(): NativeStep {
    return this.#bind();
  }

  /** How steps run: "plan (N ops)", "static runtime (...)" or "interpreter (why)". */
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
    const stateful = step.stateful();
    // A model with state (an LSTM's memory) gets it back after warming up: the first real
    // step starts where it would have without warmup. Inputs fed back are kept likewise.
    const fed = this.#feedback.map((f) => Float64Array.from(f.to.value));
    if (stateful) step.saveState();
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
    if (stateful) step.restoreState();
    this.#feedback.forEach((f, i) => f.to.value.set(fed[i]));
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
    const fb = this.#feedback;
    for (let i = 0; i < fb.length; i++) fb[i].to.value.set(fb[i].from.value);
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
    const specs = this.#argumentSpecs(method, sig.arguments);
    const step = model.createStep(method, specs, { plan: this.#options.plan ?? true });
    this.#outputNames = step.outputNames();
    const views = step.inputs();
    this.#inputs.forEach((s, i) => s.rebind(views[i].data as SignalArray));
    this.#step = step;
    this.#stepFn = step.stepFunction();
    this.#stats = step.stats().data as Float64Array;
    this.#latency = new LatencyStats({ buckets: step.histogram().data as Int32Array, meta: this.#stats, offset: 2 });
    this.#rebindOutputs(step);
    this.#feedback = this.#feedbackNames.map(([from, to]) => {
      const f = { from: this.signal(from) as OutputSignal, to: this.signal(to) as InputSignal };
      if (f.from.value.length !== f.to.value.length) {
        throw new TorchError('ERR_SHAPE', `Cannot feed '${f.from.path}' (${f.from.value.length} values) back into '${f.to.path}' (${f.to.value.length})`);
      }
      return f;
    });
    return step;
  }

  /**
   * The step's arguments from the signature: input signals in order, a tuple taking one per
   * element, a Dict[str, Tensor] the keyed ones, parameters for the rest.
   */
  #argumentSpecs(method: string, args: ArgumentSignature[]): StepArgSpec[] {
    const inputs = this.#inputs;
    // An AOTInductor package takes the shapes it was compiled for: a signal of as many
    // elements (48 for [1, 48]) feeds it in that shape.
    const compiled = this.model.packageInfo?.inputs;
    let next = 0;
    const leaf = (where: string): StepArgSpec => {
      const at = next;
      const s = inputs[next++];
      if (!s) throw new TorchError('ERR_ARGUMENT', `Entity '${this.name}' needs an input signal for ${where} of ${method}(${args.map((a) => a.name).join(', ')}): add one with addInput()`);
      let shape = s.shape ?? (s.source?.length !== undefined ? [s.source.length] : null);
      const want = compiled?.[at]?.shape;
      if (shape && want && shape.reduce((a, b) => a * b, 1) === want.reduce((a, b) => a * b, 1)) shape = want;
      if (!shape) throw new TorchError('ERR_ARGUMENT', `Input signal '${s.path}' has no value and is not plugged: its shape is unknown`);
      return s.dtype === 'int64' ? { shape: [...shape], dtype: 'int64', fromDouble: true } : { shape: [...shape], dtype: s.dtype };
    };
    const spec = (type: string, where: string, last: boolean): StepArgSpec => {
      const t = type.replace(/^Optional\[(.*)\]$/, '$1');
      if (t === 'Tensor') return leaf(where);
      if (t.startsWith('Tuple[')) {
        const parts = splitTypes(t.slice(6, -1));
        return { tuple: parts.map((p, i) => spec(p, `${where}[${i}]`, false)) };
      }
      if (t === 'Dict[str, Tensor]') {
        const entries: [string, StepArgSpec][] = [];
        while (next < inputs.length && (inputs[next].key !== null || last)) {
          const s = inputs[next];
          entries.push([s.key ?? s.name, leaf(where)]);
        }
        if (entries.length === 0) throw new TorchError('ERR_ARGUMENT', `Entity '${this.name}' has no input signals for ${where}, a Dict[str, Tensor]: add them with addInput(name, { key })`);
        return { dict: entries };
      }
      throw new TorchError('ERR_ARGUMENT', `${where} of ${method}() is a ${type}: give it a value with setParameter('${where.replace(/^'|'.*$/g, '')}', value)`);
    };
    const specs: StepArgSpec[] = [];
    for (let i = 0; i < args.length; i++) {
      const a = args[i];
      if (this.#parameters.has(a.name)) {
        specs.push({ value: this.#parameters.get(a.name) });
        continue;
      }
      if (next >= inputs.length && a.hasDefault) break;
      if (next >= inputs.length && !/Tensor/.test(a.type)) {
        throw new TorchError('ERR_ARGUMENT', `Argument '${a.name}' of ${method}() is a ${a.type}: give it a value with setParameter('${a.name}', value)`);
      }
      specs.push(spec(a.type, `'${a.name}'`, i === args.length - 1));
    }
    for (const name of this.#parameters.keys()) {
      if (!args.some((a) => a.name === name)) throw new TorchError('ERR_ARGUMENT', `${method}(${args.map((a) => a.name).join(', ')}) has no argument '${name}' (set with setParameter)`);
    }
    if (next < inputs.length) {
      const required = args.filter((a) => !a.hasDefault).length;
      throw new TorchError(
        'ERR_ARGUMENT',
        `Entity '${this.name}' has ${inputs.length} input signal(s) but ${method}(${args.map((a) => a.name).join(', ')}) takes ${next} here` +
          (required === args.length ? '' : ` (${required} to ${args.length} arguments)`),
      );
    }
    return specs;
  }

  #rebindOutputs(step: NativeStep): void {
    const outs = step.outputs();
    // Outputs with `from` take their place; the others the remaining results in order.
    const names = this.#outputNames;
    const taken = new Set<number>();
    for (const [s, from] of this.#outputFrom) {
      const i = names.indexOf(from);
      if (i < 0) throw new TorchError('ERR_ARGUMENT', `Output '${s.path}' takes '${from}' but the result holds ${names.map((n) => `'${n}'`).join(', ')}`);
      taken.add(i);
    }
    let next = 0;
    this.#outputs.forEach((s) => {
      let i = names.indexOf(this.#outputFrom.get(s) ?? '\0');
      if (i < 0) {
        while (taken.has(next)) next++;
        i = next++;
      }
      const t: Tensor | undefined = outs[i];
      if (!t) throw new TorchError('ERR_ARGUMENT', `Entity '${this.name}' declares ${this.#outputs.length} outputs but the model returns ${outs.length} tensor(s)`);
      if (!(t.data instanceof Float32Array) && !(t.data instanceof Float64Array)) {
        throw new TorchError('ERR_DTYPE', `Output '${s.path}' (result '${names[i]}') is a ${t.dtype} tensor; signals hold float32 or float64, and int64 results as float64 (received ${describe(t.data)})`);
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
    this.#feedback = [];
    this.#stepFn = null;
    this.#stats = null;
    this.#latency = new LatencyStats();
  }
}

/** Splits "Tensor, Tuple[Tensor, Tensor]" at its top-level commas. */
function splitTypes(list: string): string[] {
  const out: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i < list.length; i++) {
    const c = list[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === ',' && depth === 0) {
      out.push(list.slice(start, i).trim());
      start = i + 1;
    }
  }
  out.push(list.slice(start).trim());
  return out;
}
