import { TorchError, describe } from '../errors.ts';
import type { Entity } from './entity.ts';

/** What a numeric signal holds: a fixed-size typed buffer. */
export type SignalArray = Float32Array | Float64Array;
/**
 * Element type. 'int64' is for integer tensor inputs (an edge index, token ids): the signal
 * holds float64 numbers (exact up to 2^53) and the step converts them before each run.
 */
export type SignalDtype = 'float32' | 'float64' | 'int64';
/**
 * What may be written to an input signal; it is copied into the signal's buffer. An 'int64'
 * signal also takes BigInt64Array and bigint values (within ±2^53, which its float64 holds exactly).
 */
export type SignalInput = SignalArray | readonly number[] | number | BigInt64Array | readonly bigint[] | bigint;

export interface SignalSpec {
  /** Fixed shape; when left out, the first value written fixes it as [length]. */
  shape?: readonly number[];
  /** Element type of the buffer (float32 by default). */
  dtype?: SignalDtype;
  /** For a method argument of type Dict[str, Tensor]: this signal's key (default: its name). */
  key?: string;
}

const NEVER = Number.NEGATIVE_INFINITY;

/** A named, time-stamped signal of an entity (dynamic-graph style). */
export abstract class Signal {
  readonly entity: Entity;
  readonly name: string;
  /** The time tick this signal was last computed for. */
  time = NEVER;

  constructor(entity: Entity, name: string) {
    this.entity = entity;
    this.name = name;
  }

  /** `entity.signal` as dynamic-graph writes it. */
  get path(): string {
    return `${this.entity.name}.${this.name}`;
  }

  /** Brings the signal up to date for time t; does nothing if it already is. */
  abstract recompute(t: number): void;
  abstract get value(): unknown;
}

function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * An input: a value written by the user, or plugged to another entity's output. Writing
 * copies into a fixed buffer (memory a model reads directly, once bound), so a step
 * allocates nothing.
 */
export class InputSignal extends Signal {
  #buffer: SignalArray | null = null;
  #shape: readonly number[] | null;
  readonly dtype: SignalDtype;
  /** The key of a Dict[str, Tensor] argument this signal feeds, when declared. */
  readonly key: string | null;
  #source: OutputSignal | null = null;

  constructor(entity: Entity, name: string, spec: SignalSpec = {}) {
    super(entity, name);
    this.dtype = spec.dtype ?? 'float32';
    if (this.dtype !== 'float32' && this.dtype !== 'float64' && this.dtype !== 'int64') {
      throw new TorchError('ERR_DTYPE', `Expected 'float32', 'float64' or 'int64' for the dtype of signal '${this.path}' but received ${describe(spec.dtype)}`);
    }
    if (spec.key !== undefined && typeof spec.key !== 'string') {
      throw new TorchError('ERR_ARGUMENT', `Expected a string for the key of signal '${this.path}' but received ${describe(spec.key)}`);
    }
    this.key = spec.key ?? null;
    this.#shape = spec.shape ? Object.freeze([...spec.shape]) : null;
    if (this.#shape) this.#buffer = this.dtype === 'float32' ? new Float32Array(sizeOf(this.#shape)) : new Float64Array(sizeOf(this.#shape));
  }

  /** The fixed shape, or null until the first value or a declaration fixes it. */
  get shape(): readonly number[] | null {
    return this.#shape;
  }

  /** Whether the signal has a value or a source. */
  get ready(): boolean {
    return this.#source !== null || this.#written;
  }
  #written = false;

  get source(): OutputSignal | null {
    return this.#source;
  }

  /** The current buffer (a view that a bound model reads). */
  get value(): SignalArray {
    if (!this.#buffer) throw new TorchError('ERR_ARGUMENT', `Signal '${this.path}' has no value yet: set it or plug it`);
    return this.#buffer;
  }

  /** Copies a value in. The first write fixes the shape when none was declared. */
  set value(v: SignalInput) {
    if (this.#source) throw new TorchError('ERR_ARGUMENT', `Signal '${this.path}' is plugged to '${this.#source.path}'; unplug it before setting a value`);
    if (typeof v === 'bigint' || v instanceof BigInt64Array || (Array.isArray(v) && v.length > 0 && typeof v[0] === 'bigint')) {
      v = this.#fromBigInts(v as bigint | BigInt64Array | readonly bigint[]);
    }
    const length = typeof v === 'number' ? 1 : (v as ArrayLike<number>)?.length;
    if (typeof length !== 'number' || (typeof v !== 'number' && !Array.isArray(v) && !(v instanceof Float32Array) && !(v instanceof Float64Array))) {
      const more = this.dtype === 'int64' ? ', BigInt64Array, bigint[]' : '';
      throw new TorchError('ERR_ARGUMENT', `Expected a number[], Float32Array, Float64Array${more} or number for signal '${this.path}' but received ${describe(v)}`);
    }
    if (!this.#buffer) {
      this.#shape = Object.freeze([length]);
      this.#buffer = this.dtype === 'float32' ? new Float32Array(length) : new Float64Array(length);
    }
    const buf = this.#buffer;
    if (length !== buf.length) {
      throw new TorchError('ERR_SHAPE', `Expected ${buf.length} values for signal '${this.path}' (shape [${this.#shape!.join(', ')}]) but received ${describe(v)}`);
    }
    if (typeof v === 'number') buf[0] = v;
    else {
      // A plain array may hold anything; a string would become NaN in the model silently.
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          if (typeof v[i] !== 'number') throw new TorchError('ERR_ARGUMENT', `Expected numbers for signal '${this.path}' but element ${i} is ${describe(v[i])}`);
        }
      }
      buf.set(v as ArrayLike<number>);
    }
    this.#written = true;
  }

  /** int64 values as the numbers an 'int64' signal holds (exact within ±2^53). */
  #fromBigInts(v: bigint | BigInt64Array | readonly bigint[]): number[] {
    if (this.dtype !== 'int64') {
      throw new TorchError('ERR_DTYPE', `Signal '${this.path}' holds ${this.dtype}: BigInt values are for 'int64' signals (received ${describe(v)})`);
    }
    const list = typeof v === 'bigint' ? [v] : Array.from(v as ArrayLike<bigint>);
    return list.map((x, i) => {
      if (typeof x !== 'bigint') throw new TorchError('ERR_ARGUMENT', `Expected bigints for signal '${this.path}' but element ${i} is ${describe(x)}`);
      if (x > 9007199254740992n || x < -9007199254740992n) {
        throw new TorchError('ERR_ARGUMENT', `Element ${i} for signal '${this.path}' (${x}) is beyond ±2^53, which an 'int64' signal holds exactly`);
      }
      return Number(x);
    });
  }

  /** @internal Moves the signal onto a buffer owned elsewhere (a model's input tensor), keeping its contents. */
  rebind(buffer: SignalArray): void {
    if (this.#buffer) {
      if (buffer.length !== this.#buffer.length) throw new TorchError('ERR_SHAPE', `Cannot rebind '${this.path}' to a buffer of another size`);
      buffer.set(this.#buffer);
    }
    this.#buffer = buffer;
    if (!this.#shape) this.#shape = Object.freeze([buffer.length]);
  }

  /** @internal Fixes the shape before any value is written (a model's input spec). */
  declareShape(shape: readonly number[]): void {
    if (this.#shape && sizeOf(this.#shape) !== sizeOf(shape)) {
      throw new TorchError('ERR_SHAPE', `Signal '${this.path}' has shape [${this.#shape.join(', ')}], not [${shape.join(', ')}]`);
    }
    this.#shape = Object.freeze([...shape]);
  }

  /** @internal Used by plug(). */
  setSource(src: OutputSignal | null): void {
    if (src && this.#shape && src.length !== undefined && src.length !== sizeOf(this.#shape)) {
      throw new TorchError('ERR_SHAPE', `Cannot plug '${src.path}' (${src.length} values) into '${this.path}' (shape [${this.#shape.join(', ')}])`);
    }
    if (!src && this.#source && this.#buffer) this.#written = true; // keeps its last value
    this.#source = src;
  }

  /** @internal Takes the source's current value without recomputing it (warmup). */
  copyFromSource(): void {
    const src = this.#source;
    if (src && src.length !== undefined && this.#buffer && src.length === this.#buffer.length) this.#buffer.set(src.value);
  }

  recompute(t: number): void {
    if (this.time === t) return;
    const src = this.#source;
    if (src !== null) {
      src.recompute(t);
      const v = src.value;
      if (!this.#buffer) this.rebind(this.dtype === 'float32' ? new Float32Array(v.length) : new Float64Array(v.length));
      if (v.length !== this.#buffer!.length) {
        throw new TorchError('ERR_SHAPE', `Signal '${src.path}' gives ${v.length} values but '${this.path}' holds ${this.#buffer!.length}`);
      }
      this.#buffer!.set(v);
    } else if (!this.#written) {
      throw new TorchError('ERR_ARGUMENT', `Input signal '${this.path}' has no value and is not plugged`);
    }
    this.time = t;
  }
}

/** How an output computes: fill `out` for time t (its inputs are already up to date). */
export type ComputeFn = (out: SignalArray, t: number) => void;

/**
 * An output: recomputed at most once per time tick, after pulling its dependencies.
 */
export class OutputSignal extends Signal {
  #deps: Signal[];
  #compute: ComputeFn | null;
  #buffer: SignalArray | null;

  constructor(entity: Entity, name: string, deps: Signal[], compute: ComputeFn | null, buffer: SignalArray | null) {
    super(entity, name);
    this.#deps = deps;
    this.#compute = compute;
    this.#buffer = buffer;
  }

  get length(): number | undefined {
    return this.#buffer?.length;
  }

  /** The latest value, a view that the next recompute overwrites in place. */
  get value(): SignalArray {
    if (!this.#buffer) throw new TorchError('ERR_ARGUMENT', `Signal '${this.path}' has not been computed yet: call recompute(t) first`);
    return this.#buffer;
  }

  /** @internal A model-backed output points at the model's output tensor. */
  rebind(buffer: SignalArray): void {
    this.#buffer = buffer;
  }

  get dependencies(): readonly Signal[] {
    return this.#deps;
  }

  #busy = false;

  recompute(t: number): void {
    if (this.time === t) return;
    if (this.#busy) throw cycleError(this, t);
    this.#busy = true;
    const deps = this.#deps;
    try {
      for (let i = 0; i < deps.length; i++) deps[i].recompute(t);
      if (this.#compute !== null) this.#compute(this.#buffer!, t);
    } catch (e) {
      this.#busy = false;
      // The innermost signal whose computation failed, for error reports (ControlLoop's).
      if (e !== null && typeof e === 'object' && !('signal' in e) && Object.isExtensible(e)) (e as { signal?: string }).signal = this.path;
      throw e;
    }
    this.#busy = false;
    this.time = t;
  }
}

/** A signal that depends on itself within one tick: dynamic-graph breaks such loops with state. */
export function cycleError(signal: Signal, t: number): TorchError {
  return new TorchError(
    'ERR_RUNTIME',
    `Signal cycle: '${signal.path}' depends on itself at time ${t}. Break the loop with state: an output that ` +
      'returns the current state without dependencies, advanced by an explicit step (as a robot device does).',
  );
}

/** A number-valued output, such as `last_run_duration_ms`. */
export class ScalarSignal extends Signal {
  #read: () => number;
  #deps: Signal[];

  constructor(entity: Entity, name: string, read: () => number, deps: Signal[] = []) {
    super(entity, name);
    this.#read = read;
    this.#deps = deps;
  }

  get value(): number {
    return this.#read();
  }

  recompute(t: number): void {
    if (this.time === t) return;
    for (let i = 0; i < this.#deps.length; i++) this.#deps[i].recompute(t);
    this.time = t;
  }
}

/**
 * Connects an output to an input: the input takes the output's value, recomputed for the
 * same time tick when the input is pulled.
 *
 * @example plug(controller.signal('sout_torque'), plant.signal('sin_torque'));
 */
export function plug(output: Signal, input: Signal): void {
  if (!(output instanceof OutputSignal)) {
    throw new TorchError('ERR_ARGUMENT', `Expected an output signal for plug()'s first argument but received '${output?.path ?? describe(output)}'`);
  }
  if (!(input instanceof InputSignal)) {
    throw new TorchError('ERR_ARGUMENT', `Expected an input signal for plug()'s second argument but received '${input?.path ?? describe(input)}'`);
  }
  input.setSource(output);
}

/** Disconnects an input from its source; it keeps its last value. */
export function unplug(input: InputSignal): void {
  input.setSource(null);
}
