// API misuse that once crashed, hung or silently corrupted (issue 11): each is a TorchError
// with a code now, or just works, and the process lives.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, TorchEntity, TorchError, Trainer, setNumThreads } from '../../lib/index.ts';
import { expectedOutputs as E, expectClose, fixture, tensorOf } from '../helpers/fixtures.ts';
import { caught } from '../helpers/caught.ts';


describe('async calls and the caller\'s buffers', () => {
  const m = Model.loadSync(fixture('mlp_m2.pt'));
  const input = () => Float32Array.from(E.m2.inputs[0].data as number[]);

  it('transferring the input\'s ArrayBuffer during an async forward changes nothing (inputs are copied)', async () => {
    const data = input();
    const pending = m.forward<Tensor>(new Tensor(data, [1, 48]));
    structuredClone(data.buffer, { transfer: [data.buffer] }); // detaches it
    expect(data.length).toBe(0);
    expectClose(await pending, E.m2.output);
  });

  it('shrinking a resizable input buffer during an async forward changes nothing', async () => {
    const buffer = new ArrayBuffer(48 * 4, { maxByteLength: 48 * 4 });
    const data = new Float32Array(buffer);
    data.set(input());
    const pending = m.forward<Tensor>(new Tensor(data, [1, 48]));
    buffer.resize(0);
    expectClose(await pending, E.m2.output);
  });

  it('a detached buffer is an ERR_ARGUMENT that says so', () => {
    const data = input();
    structuredClone(data.buffer, { transfer: [data.buffer] });
    const e = caught(() => m.forwardSync({ data, shape: [1, 48], dtype: 'float32' } as never));
    expect(e.code).toBe('ERR_ARGUMENT');
    expect(e.message).toMatch(/detached \(transferred\)/);
  });

  it('SharedArrayBuffer-backed inputs work, sync and async', async () => {
    const shared = new Float32Array(new SharedArrayBuffer(48 * 4));
    shared.set(input());
    expectClose(m.forwardSync<Tensor>(new Tensor(shared, [1, 48])), E.m2.output);
    expectClose(await m.forward<Tensor>(new Tensor(shared, [1, 48])), E.m2.output);
  });
});

describe('numbers are range-checked, never wrapped or truncated', () => {
  const kinds = Model.loadSync(fixture('kinds.pt'));
  const x = new Tensor(new Float32Array([1, 2]));

  it('an int argument of 1e300 or a BigInt beyond int64 is ERR_ARGUMENT', () => {
    expect(caught(() => kinds.callSync('scaled', x, 2.5, 1e300)).message).toMatch(/Expected an integer within int64 \(int\) for argument 'n'/);
    expect(caught(() => kinds.callSync('scaled', x, 2.5, 2n ** 64n + 3n)).code).toBe('ERR_ARGUMENT');
    expect(caught(() => kinds.callSync('scaled', x, 2.5, -(2n ** 63n) - 1n)).code).toBe('ERR_ARGUMENT');
    expect(kinds.callSync<Tensor>('scaled', x, 1, 2n ** 20n).data[0]).toBe(1 + 2 ** 20);
  });

  it('a non-integer or negative shape is ERR_SHAPE', () => {
    const data = new Float32Array(8);
    expect(caught(() => kinds.callSync('identity', { data, shape: [2.9, 4], dtype: 'float32' } as never)).message).toMatch(/non-negative integers in the shape .* received number 2.9/);
    expect(caught(() => kinds.callSync('identity', { data, shape: [-2, -4], dtype: 'float32' } as never)).code).toBe('ERR_SHAPE');
  });

  it('string signal values are ERR_ARGUMENT, not NaN', () => {
    const e = new TorchEntity('strings');
    const s = e.addInput('x', { shape: [2] });
    expect(caught(() => (s.value = [1, 'a' as never])).message).toMatch(/element 1 is string 'a'/);
    expect(caught(() => (s.value = 'ab' as never)).code).toBe('ERR_ARGUMENT');
    e.dispose();
  });

  it('thread counts are bounded', () => {
    expect(caught(() => setNumThreads(100_000)).message).toMatch(/an integer from 1 to \d+ \(4 x the CPUs\)/);
    expect(caught(() => setNumThreads(0)).code).toBe('ERR_ARGUMENT');
  });
});

describe('paths', () => {
  it("'/dev/zero' (not a regular file) is refused at once, sync and async", async () => {
    expect(caught(() => Model.loadSync('/dev/zero')).message).toMatch(/not a regular file/);
    await expect(Model.load('/dev/zero')).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/not a regular file/) });
  });

  it('a path with a NUL is ERR_ARGUMENT (it would load another file)', async () => {
    expect(caught(() => Model.loadSync(`${fixture('mlp_m2.pt')}\0junk`)).code).toBe('ERR_ARGUMENT');
    await expect(Model.load(`${fixture('mlp_m2.pt')}\0junk`)).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });

  it('a directory gives the same code sync and async', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-dir-'));
    expect(caught(() => Model.loadSync(dir)).message).toMatch(/is a directory/);
    await expect(Model.load(dir)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/is a directory/) });
  });
});

describe('objects built on a disposed model', () => {
  it('a TorchEntity stepping a model the user disposed gets ERR_DISPOSED', () => {
    const m = Model.loadSync(fixture('mlp_m2.pt'));
    const e = new TorchEntity('after-dispose');
    e.loadModel(m);
    e.addInput('x', { shape: [1, 48] }).value = new Float32Array(48);
    const out = e.addOutput('y');
    out.recompute(1);
    m.dispose();
    expect(caught(() => out.recompute(2)).code).toBe('ERR_DISPOSED');
  });

  it('a Trainer whose model was disposed gets ERR_DISPOSED, sync and async', async () => {
    const m = Model.loadSync(fixture('small.pt'));
    const trainer = new Trainer(m, { optimizer: 'sgd', lr: 0.1 });
    const x = tensorOf(E.optim.batches[0][0]), y = tensorOf(E.optim.batches[0][1]);
    trainer.stepSync([x], y);
    m.dispose();
    expect(caught(() => trainer.stepSync([x], y)).code).toBe('ERR_DISPOSED');
    await expect(trainer.step([x], y)).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
    await expect(trainer.evaluate([x], y)).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });
});

describe('worker threads and memory', () => {
  it('worker.terminate() during every async operation (load, forward, call, trainer step and evaluate) leaves the process alive', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'test/helpers/terminate.ts', '4'], { encoding: 'utf8', timeout: 240_000 });
    expect(out.trim().split('\n').pop()).toBe('alive');
  }, 300_000);

  it('dispose() frees a module at once: load/forward/dispose loops hold flat RSS without the event loop turning', () => {
    const script = `
      const { Model, Tensor } = await import('./lib/index.ts');
      const x = new Tensor(new Float32Array(48), [1, 48]);
      const cycle = (n) => { for (let i = 0; i < n; i++) { const m = Model.loadSync(${JSON.stringify(fixture('mlp_m2.pt'))}); m.forwardSync(x); m.dispose(); } };
      cycle(300);
      const before = process.memoryUsage().rss;
      cycle(3000);
      console.log(JSON.stringify({ growthMB: (process.memoryUsage().rss - before) / 2 ** 20 }));`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 240_000 });
    const { growthMB } = JSON.parse(out.trim().split('\n').pop()!);
    // Before the fix: +862 MB over 10,000 cycles (86 KB each); 3,000 would be ~250 MB.
    expect(growthMB).toBeLessThan(40);
  }, 300_000);
});
