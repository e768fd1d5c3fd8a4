import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Environment, EnvironmentManager, SpringChainEnvironment, TorchError } from '../../lib/index.ts';

const helpers = path.resolve('test/helpers/crashy-env.ts');

describe('Environment: fields are checked on write, errors name the field', () => {
  class Env extends Environment {
    create() {
      this.defineTrainingFields([{ name: 'a', shape: [2, 2] }]);
    }
    step() {}
  }
  it('unknown field, wrong length, NaN', async () => {
    const e = new Env();
    await e.create();
    expect(() => e.setTrainingData({ b: [1] })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: "Unknown training field 'b' (defined: a)" }));
    expect(() => e.setTrainingData({ a: [1, 2, 3] })).toThrow(expect.objectContaining({ code: 'ERR_SHAPE', message: expect.stringMatching(/Expected 4 values for field 'a' \(shape \[2, 2\]\)/) }));
    expect(() => e.setTrainingData({ a: [1, NaN, 3, 4] })).toThrow(expect.objectContaining({ message: "Field 'a' has NaN at index 1: samples must be finite" }));
    expect(() => e.defineTrainingFields([{ name: 'bad name', shape: [1] }])).toThrow(TorchError);
  });

  it('the spring chain relaxes to equilibrium: its residual is small and the loads balance', async () => {
    const env = new SpringChainEnvironment({ seed: 3, nodes: 16, iterations: 50 });
    await env.create();
    env.step();
    expect(env.checkSample()).toBe(true);
    expect(env.lastResidual).toBeLessThan(1e-6);
    // The wall carries the sum of the loads: k d0 + k3 d0^3 = sum(loads).
    const total = env.loads.reduce((a, b) => a + b, 0);
    expect(env.spring(env.u[0])).toBeCloseTo(total, 6);
  });
});

describe('EnvironmentManager', () => {
  it('in this thread: deterministic per seed, with rejected samples retried', async () => {
    const m = new EnvironmentManager({ environment: { module: helpers, exportName: 'PickyEnvironment' }, seed: 5 });
    await m.start();
    const b = await m.getBatch(4);
    expect(b.rejected).toBe(4);
    expect(Array.from(b.values.v as Float32Array).filter((_, i) => i % 3 === 0)).toEqual([2, 4, 6, 8]);
    await m.close();
    const bad = new EnvironmentManager({ environment: { module: helpers, exportName: 'PickyEnvironment' }, maxWrongSamplesPerStep: 3, environmentOptions: { rejectAll: true } });
    await bad.start();
    await expect(bad.getBatch(1)).rejects.toMatchObject({ code: 'ERR_RUNTIME', message: expect.stringMatching(/rejected 4 samples in a row/) });
    const nan = new EnvironmentManager({ environment: { module: helpers, exportName: 'PickyEnvironment' }, environmentOptions: { nan: true } });
    await nan.start();
    await expect(nan.getBatch(1)).rejects.toMatchObject({ message: expect.stringMatching(/Field 'v' has NaN at index 1/) });
  });

  it('in worker threads: each environment has its own seed; the same seeds give the same samples', async () => {
    const run = async () => {
      const m = new EnvironmentManager({ environment: { module: helpers, exportName: 'CountingEnvironment' }, workers: 2, seed: 10 });
      await m.start();
      const b = await m.getBatch(6);
      await m.close();
      return b;
    };
    const a = await run();
    const b = await run();
    expect(Array.from(a.values.seed as Int32Array).sort()).toEqual([10, 10, 10, 11, 11, 11]);
    expect(Array.from(a.values.x as Float32Array)).toEqual(Array.from(b.values.x as Float32Array));
  });

  it('a worker that crashes is reported and replaced, and the batch still arrives whole', async () => {
    const m = new EnvironmentManager({ environment: { module: helpers, exportName: 'CountingEnvironment' }, workers: 2, seed: 0, environmentOptions: { crashAt: 3 } });
    const crashes: unknown[] = [];
    m.on('crash', (c) => crashes.push(c));
    await m.start();
    const first = await m.getBatch(4); // 2 per worker: no crash yet
    const second = await m.getBatch(4); // the 3rd sample of each kills both workers
    await m.close();
    expect(crashes.length).toBe(2);
    expect(m.crashes).toBe(2);
    expect(first.size).toBe(4);
    expect(second.size).toBe(4);
    expect(Array.from(second.values.seed as Int32Array).every((s) => s >= 1000)).toBe(true); // produced by the replacements
  });

  it('a worker that cannot start (no such module, no such export) is one TorchError, never replaced again and again', async () => {
    for (const [environment, message] of [
      [{ module: path.join(path.dirname(helpers), 'no-such-environment.ts'), exportName: 'X' }, /did not start: cannot import the environment module .*no-such-environment\.ts/],
      [{ module: helpers, exportName: 'NoSuchClass' }, /did not start: .* exports no environment class 'NoSuchClass' \(its exports: .*CountingEnvironment/],
    ] as const) {
      const m = new EnvironmentManager({ environment, workers: 2, seed: 0 });
      const crashes: unknown[] = [];
      m.on('crash', (c) => crashes.push(c));
      const e = await m.start().then(() => null, (x: TorchError) => x);
      expect(e).toBeInstanceOf(TorchError);
      expect(e!.code).toBe('ERR_NOT_FOUND');
      expect(e!.message).toMatch(message);
      expect(crashes).toEqual([]);
      expect(m.crashes).toBe(0);
      await m.close(); // closes at once: nothing is left running
    }
  });
});

describe('getPrediction: the network serves environments mid-generation', () => {
  const predictor = async (input: Record<string, ArrayLike<number>>) => ({ y: Float32Array.from(input.x as ArrayLike<number>, (v) => 2 * v + 1) });
  it.each([0, 2])('with %i worker thread(s)', async (workers) => {
    const m = new EnvironmentManager({ environment: { module: helpers, exportName: 'AskingEnvironment' }, workers, seed: 4, predictor });
    await m.start();
    const b = await m.getBatch(6);
    await m.close();
    const x = b.values.x as Float32Array, answer = b.values.answer as Float32Array;
    for (let i = 0; i < x.length; i++) expect(answer[i]).toBeCloseTo(2 * x[i] + 1, 5);
  });

  it('without a predictor the environment gets a clear error', async () => {
    const m = new EnvironmentManager({ environment: { module: helpers, exportName: 'AskingEnvironment' } });
    await m.start();
    await expect(m.getBatch(1)).rejects.toMatchObject({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/No network serves predictions/) });
  });
});
