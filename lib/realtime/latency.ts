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
  // Buckets, and [count, max, sum] at meta[offset..offset+2]. Native steps record into
  // views of their own memory (native/napi/step_wrap.cc keeps the same layout).
  readonly #buckets: Uint32Array | Int32Array;
  readonly #meta: Float64Array;
  readonly #at: number;

  constructor(views?: { buckets: Uint32Array | Int32Array; meta: Float64Array; offset: number }) {
    if (views && views.buckets.length !== BUCKETS) throw new Error(`histogram layout mismatch: ${views.buckets.length} buckets, expected ${BUCKETS}`);
    this.#buckets = views?.buckets ?? new Uint32Array(BUCKETS);
    this.#meta = views?.meta ?? new Float64Array(3);
    this.#at = views?.offset ?? 0;
  }

  /** Records one duration in milliseconds. */
  record(ms: number): void {
    let i = ms <= MIN_MS ? 0 : Math.floor(Math.log(ms / MIN_MS) / GROWTH) + 1;
    if (i >= BUCKETS) i = BUCKETS - 1;
    this.#buckets[i]++;
    const m = this.#meta, a = this.#at;
    m[a]++;
    if (ms > m[a + 1]) m[a + 1] = ms;
    m[a + 2] += ms;
  }

  get count(): number {
    return this.#meta[this.#at];
  }

  get #count(): number {
    return this.#meta[this.#at];
  }

  get #max(): number {
    return this.#meta[this.#at + 1];
  }

  get #sum(): number {
    return this.#meta[this.#at + 2];
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
    this.#meta.fill(0, this.#at, this.#at + 3);
  }
}
