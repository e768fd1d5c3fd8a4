import { native } from '../native.ts';
import type { LatencyStats } from './latency.ts';

/**
 * A stopwatch for realtime loops that allocates nothing: the native clock writes into a
 * preallocated slot (performance.now() returns a fresh number each call, and 100k timed
 * steps with it caused garbage collections).
 *
 * @example
 * const sw = new Stopwatch();
 * sw.start(); entity.step(t); sw.stopInto(stats);
 */
export class Stopwatch {
  readonly #slots = new Float64Array(2);

  start(): void {
    native.stamp(this.#slots, 0);
  }

  /** Records the time since start() into stats (ms). */
  stopInto(stats: LatencyStats): void {
    native.stamp(this.#slots, 1);
    stats.record(this.#slots[1] - this.#slots[0]);
  }

  /** Milliseconds since start() (returns a number: use stopInto() in a hot loop). */
  elapsedMs(): number {
    native.stamp(this.#slots, 1);
    return this.#slots[1] - this.#slots[0];
  }

  /** Milliseconds on the monotonic clock, written into buf[index]. */
  static stamp(buf: Float64Array, index: number): void {
    native.stamp(buf, index);
  }
}
