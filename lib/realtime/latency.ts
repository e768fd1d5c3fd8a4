/**
 * Latency statistics that record without allocating: a log-scale histogram in a fixed
 * Uint32Array (1% wide buckets from 0.1 µs to ~10 s), so p50/p99 are exact to about 1%
 * and max is exact.
 *
 * @example
 * const s = new LatencyStats(); s.record(0.012); s.summary(); // { count, p50, p99, max } in ms
 */
export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

const MIN_MS = 1e-4; // 0.1 µs
const GROWTH = Math.log(1.01);
const BUCKETS = Math.ceil(Math.log(1e4 / MIN_MS) / GROWTH) + 1;

export class LatencyStats {
  #buckets = new Uint32Array(BUCKETS);
  #count = 0;
  #max = 0;
  #sum = 0;

  /** Records one duration in milliseconds. */
  record(ms: number): void {
    let i = ms <= MIN_MS ? 0 : Math.floor(Math.log(ms / MIN_MS) / GROWTH) + 1;
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.#buckets[i]++;
    this.#count++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  get count(): number {
    return this.#count;
  }

  /** The q-quantile (0..1) in milliseconds, to within the bucket width (1%). */
  quantile(q: number): number {
    if (this.#count === 0) return NaN;
    const target = Math.max(1, Math.ceil(q * this.#count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.#buckets[i];
      if (seen >= target) {
        if (i === 0) return MIN_MS;
        // The bucket's geometric middle, never above the true max.
        return Math.min(this.#max, MIN_MS * Math.exp((i - 0.5) * GROWTH));
      }
    }
    return this.#max;
  }

  summary(): LatencySummary {
    return {
      count: this.#count,
      p50: this.quantile(0.5),
      p99: this.quantile(0.99),
      max: this.#count ? this.#max : NaN,
      mean: this.#count ? this.#sum / this.#count : NaN,
    };
  }

  reset(): void {
    this.#buckets.fill(0);
    this.#count = 0;
    this.#max = 0;
    this.#sum = 0;
  }
}
