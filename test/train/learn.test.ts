import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, TorchError, Trainer, manualSeed, nn } from '../../lib/index.ts';
import { expectedOutputs as E, fixture, tensorOf, PYTHON } from '../helpers/fixtures.ts';

const tmp = () => mkdtempSync(path.join(tmpdir(), 'tl-train-'));
const py = (script: string, ...args: string[]) => execFileSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8' }).trim();

function lcg(seed: number) {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
}

/** y = sin(x0) + 0.5 x1 */
function regressionBatch(rnd: () => number, n: number) {
  const x = new Float32Array(n * 2), y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[2 * i] = 3 * rnd();
    x[2 * i + 1] = rnd();
    y[i] = Math.sin(x[2 * i]) + 0.5 * x[2 * i + 1];
  }
  return [new Tensor(x, [n, 2]), new Tensor(y, [n, 1])] as const;
}

/** Three Gaussian blobs in 2-D, labels as int64 class indices. */
function blobs(rnd: () => number, n: number) {
  const centers = [[2, 0], [-1, 1.7], [-1, -1.7]];
  const x = new Float32Array(n * 2), y = new BigInt64Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 3;
    x[2 * i] = centers[c][0] + 0.6 * rnd();
    x[2 * i + 1] = centers[c][1] + 0.6 * rnd();
    y[i] = BigInt(c);
  }
  return [new Tensor(x, [n, 2]), new Tensor(y, [n], 'int64')] as const;
}

describe('learning', () => {
  it('a regression task learns to MSE < 0.01 (Adam, mse), and PyTorch runs the saved model to the same outputs', async () => {
    using net = nn.mlp([2, 64, 64, 1], { activation: 'tanh', seed: 1 });
    using trainer = new Trainer(net, { optimizer: 'adam', lr: 3e-3, loss: 'mse' });
    const rnd = lcg(7);
    for (let i = 0; i < 600; i++) await trainer.step(...(([x, y]) => [[x], y] as const)(regressionBatch(rnd, 128)));
    const [xv, yv] = regressionBatch(lcg(99), 256);
    const mse = trainer.evaluateSync([xv], yv);
    expect(mse).toBeLessThan(0.01);

    const dir = tmp();
    trainer.save(path.join(dir, 'reg.pt'));
    writeFileSync(path.join(dir, 'x.json'), JSON.stringify(Array.from(xv.data as Float32Array)));
    const ours = Array.from(net.forwardSync(xv).data as Float32Array);
    const theirs: number[] = JSON.parse(
      py(`import torch, json, sys
m = torch.jit.load(sys.argv[1]); x = torch.tensor(json.load(open(sys.argv[2]))).reshape(-1, 2)
print(json.dumps(m(x).flatten().tolist()))`, path.join(dir, 'reg.pt'), path.join(dir, 'x.json')),
    );
    theirs.forEach((v, i) => expect(ours[i]).toBeCloseTo(v, 5));
  });

  it('a classification task reaches > 95% accuracy (SGD momentum, cross_entropy)', () => {
    using net = nn.mlp([2, 32, 3], { activation: 'relu', seed: 2 });
    using trainer = new Trainer(net, { optimizer: 'sgd', lr: 0.1, momentum: 0.9, loss: 'cross_entropy' });
    const rnd = lcg(3);
    for (let i = 0; i < 300; i++) {
      const [x, y] = blobs(rnd, 96);
      trainer.stepSync([x], y);
    }
    const [x, y] = blobs(lcg(1234), 300);
    const logits = net.eval().forwardSync(x).data as Float32Array;
    let correct = 0;
    for (let i = 0; i < 300; i++) {
      const row = [logits[3 * i], logits[3 * i + 1], logits[3 * i + 2]];
      if (row.indexOf(Math.max(...row)) === Number(y.data[i])) correct++;
    }
    expect(correct / 300).toBeGreaterThan(0.95);
  });
});

describe('saving, resuming, determinism', () => {
  const batches = E.optim.batches.map(([x, y]: [never, never]) => [tensorOf(x), tensorOf(y)] as const);

  it('the optimizer state is saved with the model: 2 steps, save, load, 2 steps equals 4 steps', () => {
    const options = { optimizer: 'adam' as const, lr: 0.01, schedule: { kind: 'cosine' as const, tMax: 5 } };
    using straight = Model.loadSync(fixture('small.pt'));
    using t1 = new Trainer(straight, options);
    for (const [x, y] of batches) t1.stepSync([x], y);

    const file = path.join(tmp(), 'half.pt');
    using first = Model.loadSync(fixture('small.pt'));
    using t2 = new Trainer(first, options);
    for (const [x, y] of batches.slice(0, 2)) t2.stepSync([x], y);
    t2.save(file);
    using resumed = Model.loadSync(file);
    using t3 = new Trainer(resumed, options);
    expect(t3.restored).toBe(true);
    expect(t3.optimizerSteps).toBe(2);
    for (const [x, y] of batches.slice(2)) t3.stepSync([x], y);
    expect(t3.lr).toBeCloseTo(t1.lr, 12);
    const a = straight.parameters(), b = resumed.parameters();
    for (const k of Object.keys(a)) expect(Array.from(b[k].data as Float32Array)).toEqual(Array.from(a[k].data as Float32Array));
    // { resume: false } starts afresh; a different optimizer cannot take the saved state.
    using fresh = new Trainer(Model.loadSync(file), { ...options, resume: false });
    expect(fresh.restored).toBe(false);
    expect(() => new Trainer(Model.loadSync(file), { optimizer: 'sgd', lr: 0.1, momentum: 0.9 })).toThrow(TorchError);
  });

  it('manualSeed makes initialisation and training reproducible', () => {
    const run = () => {
      manualSeed(42);
      const net = nn.mlp([2, 16, 1], { activation: 'tanh' });
      const trainer = new Trainer(net, { optimizer: 'adamw', lr: 0.01 });
      const rnd = lcg(5);
      for (let i = 0; i < 20; i++) {
        const [x, y] = regressionBatch(rnd, 32);
        trainer.stepSync([x], y);
      }
      return Array.from(net.parameters().l1_weight.data as Float32Array);
    };
    expect(run()).toEqual(run());
  });

  it('Model.compile makes a module from TorchScript source that trains and saves like any other', () => {
    using m = Model.compile('def forward(self, x: Tensor) -> Tensor:\n    return x * self.scale + self.shift\n', {
      parameters: { scale: new Tensor([1], [1]), shift: new Tensor([0], [1]) },
    });
    using trainer = new Trainer(m, { optimizer: 'sgd', lr: 0.1 });
    const x = new Tensor([1, 2, 3, 4], [4]);
    const y = new Tensor([5, 8, 11, 14], [4]); // 3x + 2
    for (let i = 0; i < 400; i++) trainer.stepSync([x], y);
    expect(m.parameters().scale.data[0]).toBeCloseTo(3, 2);
    expect(m.parameters().shift.data[0]).toBeCloseTo(2, 2);
    const file = path.join(tmp(), 'affine.pt');
    m.save(file);
    expect(Number(py('import torch,sys; print(float(torch.jit.load(sys.argv[1])(torch.tensor([10.0]))))', file))).toBeCloseTo(32, 2);
    expect(() => Model.compile('def forward(self, x: Tensor) -> Tensor:\n    return x +* 1\n')).toThrow(
      expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/does not compile/) }),
    );
  });

  it('nn.mlp initialises as PyTorch nn.Linear does, seed for seed', () => {
    using m = nn.mlp([3, 4, 2], { seed: 0 });
    const theirs: number[] = JSON.parse(py('import torch, json; torch.manual_seed(0); s = torch.nn.Sequential(torch.nn.Linear(3,4), torch.nn.ReLU(), torch.nn.Linear(4,2)); print(json.dumps([p.flatten().tolist() for p in s.parameters()]))'));
    const p = m.parameters();
    [p.l0_weight, p.l0_bias, p.l1_weight, p.l1_bias].forEach((t, i) => expect(Array.from(t.data as Float32Array)).toEqual(theirs[i].map(Math.fround)));
  });
});

describe('training errors', () => {
  it('names the bad option, the shape mismatch, the disposed trainer', async () => {
    using m = Model.loadSync(fixture('small.pt'));
    expect(() => new Trainer(m, { optimizer: 'adagrad' as never })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/'adagrad'/) }));
    expect(() => new Trainer(m, { lr: -1 })).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/lr/) }));
    expect(() => new Trainer(m, { loss: 'method:nope' })).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
    expect(() => new Trainer(m, { typo: 1 } as never)).toThrow(expect.objectContaining({ message: expect.stringMatching(/Unknown trainer option 'typo'/) }));
    const t = new Trainer(m, {});
    const x = new Tensor(new Float32Array(20), [5, 4]);
    expect(() => t.stepSync([x], new Tensor(new Float32Array(5), [5, 1]))).toThrow(
      expect.objectContaining({ code: 'ERR_SHAPE', message: 'Expected a target of shape [5, 2] (the model\'s output) for loss \'mse\' but received [5, 1]' }),
    );
    await expect(t.step([new Tensor(new Float32Array(6), [2, 3])], new Tensor(new Float32Array(4), [2, 2]))).rejects.toMatchObject({ code: 'ERR_SHAPE' });
    t.dispose();
    expect(() => t.stepSync([x], x)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
  });
});
