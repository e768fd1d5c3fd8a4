import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Timing is measured by `npm run bench`, never asserted here; these tests count
// allocations, which do not depend on how busy the machine is.
function runChild(model: string, steps: number) {
  const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/helpers/zero-gc.ts', model, String(steps)], { encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('the realtime hot path', () => {
  it('100,000 PD steps (write an input, recompute, read the output, time it) cause zero GCs', () => {
    const r = runChild('script_pd_controller.pt', 100_000);
    expect(r.runs).toBe(101_000); // 1,000 to tier the loop up, then 100,000 counted
    expect(r.gcs).toBe(0);
    // One boxed number per step would be 1.6 MB; what remains is the JIT's one-time work,
    // the same ~0.2 MB over 100k or 1M steps.
    expect(r.heapGrowthBytes).toBeLessThan(1_000_000);
    expect(Number.isFinite(r.acc)).toBe(true);
    expect(r.run.p50).toBeLessThanOrEqual(r.run.p99);
    expect(r.run.p99).toBeLessThanOrEqual(r.run.max);
  });

  it('100,000 MLP (48-256-256-12) steps cause zero GCs', () => {
    const r = runChild('mlp_m2.pt', 100_000);
    expect(r.gcs).toBe(0);
    expect(r.heapGrowthBytes).toBeLessThan(1_000_000);
    expect(r.path).toMatch(/^plan/);
  });
});
