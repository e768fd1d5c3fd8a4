import { TorchError, describe } from '../errors.ts';
import { pool as defaultPool, type Pool } from './pool.ts';
import { InputSignal, OutputSignal, ScalarSignal, Signal, type ComputeFn, type SignalSpec } from './signal.ts';

export interface OutputSpec extends SignalSpec {
  /** Fills the output for time t; inputs named in `dependsOn` are up to date when it runs. */
  compute: ComputeFn;
  /** Signals (or names of this entity's signals) pulled before compute. */
  dependsOn?: (Signal | string)[];
}

/**
 * A node of the dynamic graph: named input and output signals. Subclass it to write an
 * entity in TypeScript.
 *
 * @example
 * class Gain extends Entity {
 *   constructor(name: string, k: number) {
 *     super(name);
 *     this.addInput('sin', { shape: [3] });
 *     this.addOutput('sout', { shape: [3], dependsOn: ['sin'],
 *       compute: (out) => { const x = this.input('sin').value; for (let i = 0; i < 3; i++) out[i] = k * x[i]; } });
 *   }
 * }
 */
export class Entity implements Disposable {
  readonly name: string;
  readonly pool: Pool;
  protected readonly signals = new Map<string, Signal>();
  #disposed = false;

  constructor(name: string, options: { pool?: Pool } = {}) {
    if (typeof name !== 'string' || name.length === 0) throw new TorchError('ERR_ARGUMENT', `Expected a non-empty string for the entity name but received ${describe(name)}`);
    this.name = name;
    this.pool = options.pool ?? defaultPool;
    this.pool.register(this);
  }

  /** Adds an input signal. */
  addInput(name: string, spec: SignalSpec = {}): InputSignal {
    this.#checkNew(name);
    const s = new InputSignal(this, name, spec);
    this.signals.set(name, s);
    return s;
  }

  /** Adds an output signal computed by a function. */
  addOutput(name: string, spec: OutputSpec): OutputSignal {
    this.#checkNew(name);
    if (!spec || typeof spec.compute !== 'function') {
      throw new TorchError('ERR_ARGUMENT', `Expected { compute, shape } for output '${this.name}.${name}' but received ${describe(spec)}`);
    }
    if (!spec.shape) throw new TorchError('ERR_SHAPE', `Output '${this.name}.${name}' needs a shape`);
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const buffer = (spec.dtype ?? 'float32') === 'float64' ? new Float64Array(size) : new Float32Array(size);
    const deps = (spec.dependsOn ?? []).map((d) => (typeof d === 'string' ? this.signal(d) : d));
    const s = new OutputSignal(this, name, deps, spec.compute, buffer);
    this.signals.set(name, s);
    return s;
  }

  /** @internal Adds a prepared signal (used by subclasses such as TorchEntity). */
  protected addSignal<S extends Signal>(signal: S): S {
    this.#checkNew(signal.name);
    this.signals.set(signal.name, signal);
    return signal;
  }

  /** Finds a signal by name; an unknown name is an ERR_NOT_FOUND that lists the known ones. */
  signal(name: string): Signal {
    const s = this.signals.get(name);
    if (!s) {
      throw new TorchError('ERR_NOT_FOUND', `Entity '${this.name}' has no signal '${name}' (signals: ${[...this.signals.keys()].join(', ') || 'none'})`);
    }
    return s;
  }

  /** A signal that must be an input. */
  input(name: string): InputSignal {
    const s = this.signal(name);
    if (!(s instanceof InputSignal)) throw new TorchError('ERR_ARGUMENT', `Signal '${this.name}.${name}' is not an input`);
    return s;
  }

  /** A signal that must be a tensor output. */
  output(name: string): OutputSignal {
    const s = this.signal(name);
    if (!(s instanceof OutputSignal)) throw new TorchError('ERR_ARGUMENT', `Signal '${this.name}.${name}' is not a tensor output`);
    return s;
  }

  signalNames(): string[] {
    return [...this.signals.keys()];
  }

  /** Input and output names with their kinds and shapes, for listings. */
  describeSignals(): { name: string; kind: 'input' | 'output' | 'scalar'; shape: readonly number[] | null }[] {
    return [...this.signals.values()].map((s) => ({
      name: s.name,
      kind: s instanceof InputSignal ? 'input' : s instanceof ScalarSignal ? 'scalar' : 'output',
      shape: s instanceof InputSignal ? s.shape : s instanceof OutputSignal ? (s.length === undefined ? null : [s.length]) : [],
    }));
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Leaves the pool and frees what the entity holds. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.pool.unregister(this);
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  #checkNew(name: string): void {
    if (this.#disposed) throw new TorchError('ERR_DISPOSED', `Entity '${this.name}' has been disposed`);
    if (typeof name !== 'string' || !name) throw new TorchError('ERR_ARGUMENT', `Expected a signal name but received ${describe(name)}`);
    if (this.signals.has(name)) throw new TorchError('ERR_ARGUMENT', `Entity '${this.name}' already has a signal '${name}'`);
  }
}
