import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import path from 'node:path';
import { TorchError } from '../errors.ts';
import { InputSignal, OutputSignal, ScalarSignal, type Signal } from './signal.ts';

/**
 * Records chosen signals each tick to CSV (dynamic-graph's tracer). Rows are buffered in a
 * preallocated Float64Array and written every `flushEvery` ticks, so recording itself does
 * not allocate; writing does, off the tick that fills the buffer.
 *
 * @example
 * const tr = new Tracer('trace.csv'); tr.add(pd.signal('sout_torque'));
 * for (...) { ...; tr.record(t); } tr.close();
 */
export class Tracer {
  readonly file: string;
  #signals: Signal[] = [];
  #widths: number[] = [];
  #rows: Float64Array | null = null;
  #rowCount = 0;
  #fd: number | null = null;
  #flushEvery: number;

  constructor(file: string, options: { flushEvery?: number } = {}) {
    this.file = file;
    this.#flushEvery = options.flushEvery ?? 1000;
  }

  /** Adds a signal (before the first record()). Vector signals become one column per element. */
  add(signal: Signal): this {
    if (this.#rows) throw new TorchError('ERR_ARGUMENT', 'Add signals to a tracer before the first record()');
    this.#signals.push(signal);
    return this;
  }

  #width(s: Signal): number {
    if (s instanceof ScalarSignal) return 1;
    if (s instanceof InputSignal || s instanceof OutputSignal) return s.value.length;
    return 1;
  }

  #open(): void {
    this.#widths = this.#signals.map((s) => this.#width(s));
    const header = ['time'];
    this.#signals.forEach((s, i) => {
      const w = this.#widths[i];
      if (w === 1) header.push(s.path);
      else for (let j = 0; j < w; j++) header.push(`${s.path}[${j}]`);
    });
    mkdirSync(path.dirname(path.resolve(this.file)), { recursive: true });
    this.#fd = openSync(this.file, 'w');
    writeSync(this.#fd, header.join(',') + '\n');
    this.#rows = new Float64Array(this.#flushEvery * header.length);
  }

  /** Appends the signals' current values for time t. */
  record(t: number): void {
    if (!this.#rows) this.#open();
    const rows = this.#rows!;
    const stride = rows.length / this.#flushEvery;
    let k = this.#rowCount * stride;
    rows[k++] = t;
    for (let i = 0; i < this.#signals.length; i++) {
      const s = this.#signals[i];
      if (s instanceof ScalarSignal) rows[k++] = s.value;
      else {
        const v = (s as InputSignal | OutputSignal).value;
        for (let j = 0; j < this.#widths[i]; j++) rows[k++] = v[j];
      }
    }
    if (++this.#rowCount === this.#flushEvery) this.flush();
  }

  /** Writes buffered rows. */
  flush(): void {
    if (!this.#rows || this.#fd === null || this.#rowCount === 0) return;
    const stride = this.#rows.length / this.#flushEvery;
    const lines: string[] = [];
    for (let r = 0; r < this.#rowCount; r++) lines.push(Array.from(this.#rows.subarray(r * stride, (r + 1) * stride)).join(','));
    writeSync(this.#fd, lines.join('\n') + '\n');
    this.#rowCount = 0;
  }

  close(): void {
    this.flush();
    if (this.#fd !== null) closeSync(this.#fd);
    this.#fd = null;
  }
}
