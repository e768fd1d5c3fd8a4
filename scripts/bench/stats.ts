/** Percentiles over a sample of durations (µs). */
export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(values: ArrayLike<number>): Summary {
  const a = Float64Array.from(values).sort();
  const q = (p: number) => a[Math.min(a.length - 1, Math.floor(p * a.length))];
  let sum = 0;
  for (const v of a) sum += v;
  return { n: a.length, p50: q(0.5), p99: q(0.99), max: a[a.length - 1], mean: sum / a.length };
}

export function median(values: number[]): number {
  const a = [...values].sort((x, y) => x - y);
  return a.length % 2 ? a[a.length >> 1] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
}
