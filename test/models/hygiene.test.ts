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

  it('a long loop of forwards does not grow RSS', async () => {
    // glibc keeps freed 64 KB intermediates cached, so RSS swings by up to ~100 MB between
    // snapshots without leaking. A leak grows with every round instead: compare the plateau.
    using m = Model.loadSync(fixture('mlp_m2.pt'));
    using kinds = Model.loadSync(fixture('kinds.pt'));
    const x = tensorOf(E.m2.inputs[0]);
    const big = new Tensor(new Float32Array(64 * 48), [64, 48]);
    const wide = new Tensor(new Float32Array(16 * 1024)); // 64 KB in, 64 KB out (copied path)
    const rssAfterRound: number[] = [];
    for (let round = 0; round < 8; round++) {
      for (let i = 0; i < 2000; i++) {
        m.forwardSync(i % 10 ? x : big);
        kinds.callSync('identity', wide);
      }
      gc();
      await new Promise((r) => setTimeout(r, 50));
      rssAfterRound.push(process.memoryUsage().rss / 2 ** 20);
    }
    const plateau = Math.max(...rssAfterRound.slice(1, 4));
    const end = Math.max(...rssAfterRound.slice(5));
    // 8,000 more calls of each kind after the plateau: a leaked 64 KB output would add 500 MB,
    // a leaked MLP output or input wrapper 8,000 times its size.
    expect(end - plateau).toBeLessThan(40);
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
