import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor } from '../../lib/index.ts';
import { expectedOutputs as E, fixture, tensorOf } from '../helpers/fixtures.ts';

const gc = globalThis.gc as () => void;

describe('native hygiene', () => {
  it('runs with --expose-gc', () => expect(typeof gc).toBe('function'));

  it('dropped models and outputs are collected; worker_threads each get their own addon state', () => {
    // In a plain node child: vitest's workers keep objects reachable (a WeakRef to {} survives gc there).
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/helpers/gc-check.ts'], { encoding: 'utf8' });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.modelCollected).toBe(true);
    expect(r.smallOutputCollected).toBe(true);
    expect(r.largeOutputCollected).toBe(true);
    expect(r.workers).toEqual([[4, 7], [4, 7]]);
    expect(r.mainAfterWorkers).toEqual([4]);
  });

  it('a long loop of forwards does not grow RSS', () => {
    using m = Model.loadSync(fixture('mlp_m2.pt'));
    const x = tensorOf(E.m2.inputs[0]);
    const big = new Tensor(new Float32Array(64 * 48), [64, 48]);
    for (let i = 0; i < 2000; i++) m.forwardSync(i % 2 ? x : big);
    gc();
    const before = process.memoryUsage().rss;
    for (let i = 0; i < 10000; i++) m.forwardSync(i % 2 ? x : big);
    gc();
    const grownMb = (process.memoryUsage().rss - before) / 2 ** 20;
    // 10k outputs of up to 3 KB each, plus their intermediates, would be well over 15 MB if they leaked.
    expect(grownMb).toBeLessThan(15);
  });

  it('large outputs (zero-copy, owning libtorch memory) are released once the loop turns', async () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    const x = new Tensor(new Float32Array(256 * 1024).fill(1)); // 1 MiB in, 1 MiB out
    for (let i = 0; i < 50; i++) m.callSync('identity', x);
    await new Promise((r) => setTimeout(r, 10));
    gc();
    const before = process.memoryUsage().rss;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++) m.callSync('identity', x);
      gc();
      await new Promise((r) => setImmediate(r));
    }
    await new Promise((r) => setTimeout(r, 10));
    gc();
    const grownMb = (process.memoryUsage().rss - before) / 2 ** 20;
    expect(grownMb).toBeLessThan(100); // 1000 leaked outputs would be 1000 MiB
  });

  it('a process that exits with models, calls in flight and outputs alive exits cleanly', () => {
    const lib = path.resolve('lib/index.ts');
    const script = `
      import { Model, Tensor } from ${JSON.stringify(lib)};
      const m = Model.loadSync(${JSON.stringify(fixture('slow.pt'))});
      const keep = m.forwardSync(new Tensor(new Float32Array(16), [4, 4]), 2);
      m.forward(new Tensor(new Float32Array(128 * 128), [128, 128]), 50);
      setTimeout(() => { console.log('bye', keep.shape.join('x')); process.exit(0); }, 5);`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(out.trim()).toBe('bye 4x4');
  });
});
