/**
 * Data-parallel training through libtorch's c10d (TCPStore + Gloo + Reducer), run as users run
 * it: `torchloop train exp.yaml --nproc 2`, real processes on loopback.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { Model, ProcessGroup, Tensor, TorchError, Trainer, nn } from '../../lib/index.ts';
import { shard } from '../../lib/learn/data-parallel.ts';
import { version } from '../../lib/runtime.ts';
import { experimentDir } from '../helpers/experiment.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/torchloop.mjs');
const available = ProcessGroup.available();
let dir: string;

const EXP = `defaults: [spring-chain.yaml]
output: run
database: { file: data.sqlite, source: generate-then-reload }
environment: { workers: 0, options: { nodes: 8, iterations: 20 }, module: ${JSON.stringify(path.resolve('lib/data/examples/spring-chain.ts'))} }
network: { mlp: { sizes: [8, 64, 64, 8], activation: tanh } }
training: { epochs: 5, batchSize: 32, batchesPerEpoch: 20, earlyStopping: null }
validation: { samples: 128 }
stats: { histogramsEvery: 0, plots: false }
checkpoint: { saveFrequency: 0, best: false }
distributed: { timeoutSeconds: 15 }
`;

async function train(out: string, ...args: string[]): Promise<{ report: { epochs: number; bestValLoss: number } | null; stderr: string }> {
  const r = await run(process.execPath, [BIN, 'train', path.join(dir, 'exp.yaml'), '--output', out, '--json', ...args], { cwd: dir, encoding: 'utf8' });
  // A launcher without rank 0 prints no report.
  return { report: r.stdout.trim() ? JSON.parse(r.stdout.trim().split('\n').pop()!) : null, stderr: r.stderr };
}

function parameters(file: string): Record<string, Float32Array> {
  using m = Model.loadSync(file);
  return Object.fromEntries(Object.entries(m.parameters()).map(([k, t]) => [k, Float32Array.from(t.data as Float32Array)]));
}

function maxDiff(a: Record<string, Float32Array>, b: Record<string, Float32Array>): number {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  let worst = 0;
  for (const k of Object.keys(a)) for (let i = 0; i < a[k].length; i++) worst = Math.max(worst, Math.abs(a[k][i] - b[k][i]));
  return worst;
}

beforeAll(() => {
  dir = experimentDir('tl-ddp-', EXP);
});

describe('shards', () => {
  it('each rank takes an equal contiguous shard of every field; a partial batch gives the first ranks a row more', () => {
    const fields = [{ name: 'x', shape: [2], dtype: 'float32' as const, kind: 'training' as const, size: 2 }];
    const batch = { size: 5, values: { x: Float32Array.from({ length: 10 }, (_, i) => i) }, rejected: 0 };
    const parts = [0, 1].map((rank) => shard(batch, fields, { rank, worldSize: 2 }));
    expect(parts.map((p) => p.size)).toEqual([3, 2]);
    expect(Array.from(parts[0].values.x as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(Array.from(parts[1].values.x as Float32Array)).toEqual([6, 7, 8, 9]);
  });
});

describe.runIf(!available.available)('a build without c10d', () => {
  it('says why, with ERR_UNSUPPORTED', async () => {
    expect(available.why).toMatch(version.libtorch.startsWith('1.') ? /libtorch 2\.x/ : /Gloo/);
    const e = await ProcessGroup.connect({ rank: 0, worldSize: 1, master: '127.0.0.1:1' }).catch((x) => x);
    expect(e).toBeInstanceOf(TorchError);
    expect(e.code).toBe('ERR_UNSUPPORTED');
  });
});

describe.runIf(available.available)('data-parallel training (c10d, Gloo)', () => {
  it('a group of one: collectives work, a bad master address is ERR_ARGUMENT', async () => {
    const e = await ProcessGroup.connect({ rank: 0, worldSize: 1, master: 'nowhere' }).catch((x) => x);
    expect(e.code).toBe('ERR_ARGUMENT');
    using g = await ProcessGroup.connect({ rank: 0, worldSize: 1, master: `127.0.0.1:${await (await import('../../lib/learn/data-parallel.ts')).freePort()}` });
    expect(g.mean([2, 4])).toEqual([2, 4]);
    const m = nn.mlp([4, 8, 2], { seed: 1 });
    const t = new Trainer(m, { optimizer: 'sgd', lr: 0.1, loss: 'mse' });
    // Small buckets: DDP's order, last layer first.
    expect(t.attach(g, { bucketCapMB: 1e-5 })[0]).toEqual([Object.keys(m.parameters()).at(-1)]);
    expect(() => t.attach(g)).toThrow(/already attached/);
    expect(t.stepSync([new Tensor(new Float32Array(8).fill(1), [2, 4])], new Tensor(new Float32Array(4), [2, 2]))).toBeGreaterThan(0);
    t.dispose();
    m.dispose();
  });

  it('--nproc 2 reaches the parameters of one process after 100 steps (same global batch and seed), and only rank 0 writes', async () => {
    const two = await train(path.join(dir, 'two'), '--nproc', '2');
    expect(two.stderr).toMatch(/\[launcher\] rank 1\/2: pid \d+/);
    const one = await train(path.join(dir, 'one'), '--database.source', 'load');
    expect(two.report!.epochs).toBe(5);
    const diff = maxDiff(parameters(path.join(dir, 'two/checkpoints/last.pt')), parameters(path.join(dir, 'one/checkpoints/last.pt')));
    expect(diff).toBeLessThan(1e-5); // float32 rounding of a mean of shard means, over 100 Adam steps
    expect(two.report!.bestValLoss).toBeCloseTo(one.report!.bestValLoss, 5);
    // One events file, one stats.csv: rank 0's.
    const files = execFileSync('find', [path.join(dir, 'two'), '-type', 'f'], { encoding: 'utf8' }).trim().split('\n');
    expect(files.filter((f) => f.includes('tfevents')).length).toBe(1);
  });

  it('a run resumes with another process count: 2 processes for 2 epochs, then 1 for 3, as 5 epochs in one', async () => {
    await train(path.join(dir, 'first'), '--nproc', '2', '--training.epochs', '2');
    const resumed = await train(path.join(dir, 'first'), '--resume', path.join(dir, 'first/checkpoints/last.pt'), '--database.source', 'load');
    expect(resumed.report!.epochs).toBe(3);
    const straight = path.join(dir, 'one/checkpoints/last.pt');
    expect(maxDiff(parameters(path.join(dir, 'first/checkpoints/last.pt')), parameters(straight))).toBeLessThan(1e-5);
  });

  it('--nnodes 2: two launchers (one per "machine", here both on loopback) train one model, as --nproc 2 does', async () => {
    const { freePort } = await import('../../lib/learn/data-parallel.ts');
    const master = `127.0.0.1:${await freePort()}`;
    const node = (r: number) => train(path.join(dir, 'nodes'), '--nproc', '1', '--nnodes', '2', '--node-rank', String(r), '--master', master).catch((e) => ({ report: null, stderr: String(e.stderr ?? e) }));
    const [n0, n1] = await Promise.all([node(0), node(1)]);
    expect(n0.stderr).toMatch(/\[launcher\] rank 0\/2/);
    expect(n1.stderr).toMatch(/\[launcher\] rank 1\/2/);
    expect(n0.report?.epochs).toBe(5);
    expect(maxDiff(parameters(path.join(dir, 'nodes/checkpoints/last.pt')), parameters(path.join(dir, 'two/checkpoints/last.pt')))).toBe(0);
  });

  it('a rank that dies stops the others with ERR_DISTRIBUTED; the launcher names it and exits 1', async () => {
    const child = spawn(process.execPath, [BIN, 'train', path.join(dir, 'exp.yaml'), '--output', path.join(dir, 'dies'), '--nproc', '2', '--training.epochs', '100000', '--database.source', 'load'], { cwd: dir });
    let stderr = '';
    let killedAt = 0;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      const pid = /rank 1\/2: pid (\d+)/.exec(stderr)?.[1];
      // Once rank 0 reports progress, training is under way: kill rank 1.
      if (pid && !killedAt && /training: \d+\/100000/.test(stderr)) {
        killedAt = Date.now();
        process.kill(Number(pid), 'SIGKILL');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(killedAt).toBeGreaterThan(0);
    expect(code).toBe(1);
    expect(stderr).toMatch(/rank 1 was killed by SIGKILL/);
    expect(stderr).toMatch(/ERR_DISTRIBUTED: .*failed on rank 0/);
    // Rank 0 stopped by itself (exit code 1, its own error), not by the launcher's SIGTERM.
    expect(stderr).toMatch(/exits by local rank: 1, SIGKILL/);
  }, 120_000);
});
