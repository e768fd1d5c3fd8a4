import { TorchError, describe } from '../errors.ts';

/**
 * A signal shared between a ControlLoop's thread and the main thread through a
 * SharedArrayBuffer, under a seqlock: the writer makes the sequence odd, writes the tick and
 * the values, makes it even; a reader copies and retries if the sequence moved. A read is
 * never half of one tick and half of the next, and neither side allocates or sends a message.
 *
 * Layout: Int32 [sequence, 0], then Float64 [tick, ...values].
 */
export class SharedSignal {
  readonly path: string;
  /** 'out': the loop writes it after each tick; 'in': the main thread writes it, the next tick reads it. */
  readonly direction: 'in' | 'out';
  readonly length: number;
  readonly buffer: SharedArrayBuffer;
  readonly #seq: Int32Array;
  readonly #data: Float64Array;
  readonly #values: Float64Array;
  #tick = Number.NaN;
  #seen = 0;

  static bytes(length: number): number {
    return 8 + 8 * (1 + length);
  }

  constructor(path: string, direction: 'in' | 'out', length: number, buffer?: SharedArrayBuffer) {
    this.path = path;
    this.direction = direction;
    this.length = length;
    this.buffer = buffer ?? new SharedArrayBuffer(SharedSignal.bytes(length));
    this.#seq = new Int32Array(this.buffer, 0, 2);
    this.#data = new Float64Array(this.buffer, 8, 1 + length);
    this.#values = new Float64Array(length);
  }

  /** Writes values for a tick (the writer side). */
  write(values: ArrayLike<number>, tick: number): void {
    const seq = this.#seq, data = this.#data;
    Atomics.add(seq, 0, 1);
    data[0] = tick;
    for (let i = 0; i < this.length; i++) data[i + 1] = values[i];
    Atomics.add(seq, 0, 1);
  }

  /** Copies a consistent snapshot into `into` (the reader side); returns its tick. */
  readInto(into: { [i: number]: number; length: number }): number {
    const seq = this.#seq, data = this.#data;
    for (let attempt = 0; attempt < 10_000_000; attempt++) {
      const s = Atomics.load(seq, 0);
      if (s & 1) continue;
      const tick = data[0];
      for (let i = 0; i < this.length; i++) into[i] = data[i + 1];
      if (Atomics.load(seq, 0) === s) {
        this.#seen = s;
        return tick;
      }
    }
    throw new TorchError('ERR_RUNTIME', `Shared signal '${this.path}' stayed mid-write: its writer stopped while writing`);
  }

  /** Whether a write happened since this side last read. */
  get changed(): boolean {
    return Atomics.load(this.#seq, 0) !== this.#seen;
  }

  /** A consistent snapshot (a buffer of this object's, overwritten by the next read). */
  get value(): Float64Array {
    this.#tick = this.readInto(this.#values);
    return this.#values;
  }

  /** For 'in' signals: the next tick reads this value. */
  set value(v: ArrayLike<number> | number) {
    if (this.direction !== 'in') throw new TorchError('ERR_ARGUMENT', `Shared signal '${this.path}' is an output of the loop; only its inputs can be written`);
    const n = typeof v === 'number' ? 1 : v?.length;
    if (n !== this.length) throw new TorchError('ERR_SHAPE', `Expected ${this.length} values for '${this.path}' but received ${describe(v)}`);
    if (typeof v === 'number') this.#values[0] = v;
    else for (let i = 0; i < n; i++) {
      if (typeof v[i] !== 'number') throw new TorchError('ERR_ARGUMENT', `Expected numbers for '${this.path}' but element ${i} is ${describe(v[i])}`);
      this.#values[i] = v[i];
    }
    this.write(this.#values, Number.NaN);
  }

  /** The tick of the last snapshot read through `value` (NaN for a value the main thread wrote). */
  get tick(): number {
    return this.#tick;
  }
}
