import { describe, expect, it } from 'vitest';
import { Model, Trainer, type TrainerOptions } from '../../lib/index.ts';
import { expectClose, expectedOutputs as E, fixture, tensorOf } from '../helpers/fixtures.ts';

// The same weights (small.pt), the same four batches: torch.optim's results, saved by
// scripts/make_fixtures.py, against libtorch's optimizers driven from Node.
describe('optimizers behave like torch.optim', () => {
  const batches = E.optim.batches.map(([x, y]: [never, never]) => [tensorOf(x), tensorOf(y)]);
  it.each(Object.keys(E.optim.configs))('%s', async (name) => {
    const expected = E.optim.configs[name];
    using model = Model.loadSync(fixture('small.pt'));
    using trainer = new Trainer(model, expected.options as TrainerOptions);
    const losses: number[] = [];
    for (const [i, [x, y]] of batches.entries()) losses.push(i % 2 ? trainer.stepSync([x], y) : await trainer.step([x], y));
    losses.forEach((l, i) => expect(l).toBeCloseTo(expected.losses[i], 5));
    expect(trainer.lr).toBeCloseTo(expected.lr, 10);
    const params = model.parameters();
    for (const [pname, saved] of Object.entries(expected.params)) expectClose(params[pname], saved as never, 2e-5);
  });
});

describe('gradients', () => {
  it('keepGradients returns the last update\'s gradients: for plain SGD, w1 = w0 - lr * g', () => {
    using model = Model.loadSync(fixture('small.pt'));
    using trainer = new Trainer(model, { optimizer: 'sgd', lr: 0.1, keepGradients: true });
    const before = model.parameters();
    const [x, y] = E.optim.batches[0].map((t: never) => tensorOf(t));
    trainer.stepSync([x], y);
    const grads = trainer.gradients();
    const after = model.parameters();
    expect(Object.keys(grads).sort()).toEqual(Object.keys(before).sort());
    for (const k of Object.keys(before)) {
      const w0 = before[k].data as Float32Array, w1 = after[k].data as Float32Array, g = grads[k].data as Float32Array;
      for (let i = 0; i < w0.length; i++) expect(w1[i]).toBeCloseTo(w0[i] - 0.1 * g[i], 6);
    }
  });
});
