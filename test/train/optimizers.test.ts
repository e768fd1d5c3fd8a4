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
