import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataGeneration, TrainingPipeline, loadCheckpoint, loadExperiment, runEvaluation, runPrediction, type Experiment } from '../../lib/index.ts';
import { PYTHON, fixture } from '../helpers/fixtures.ts';

const CONFIG = path.resolve('demo/learn/spring-chain.yaml');
let dir: string;
let dataset: string;

/** A small experiment over a shared pre-generated dataset (source: load, so epochs read the same data). */
function experiment(out: string, extra: Record<string, string> = {}): Experiment {
  return loadExperiment(CONFIG, {
    output: path.join(dir, out),
    'database.file': dataset,
    'database.source': 'load',
    'environment.workers': '0',
    'environment.options': '{ nodes: 8, iterations: 20 }',
    'network.mlp': '{ sizes: [8, 32, 8], activation: tanh }',
    'training.epochs': '4',
    'training.batchSize': '32',
    'validation.samples': '64',
    'stats.histogramsEvery': '2',
    'checkpoint.saveFrequency': '2',
    ...extra,
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'tl-learn-'));
  dataset = path.join(dir, 'data.sqlite');
  await new DataGeneration({
    environment: { module: path.resolve('lib/data/examples/spring-chain.ts'), exportName: 'SpringChainEnvironment' },
    environmentOptions: { nodes: 8, iterations: 20 },
    database: dataset,
    batchNb: 8,
    batchSize: 32,
    seed: 3,
    progress: false,
  }).execute();
});

describe('training pipeline', () => {
  it('trains with validation, writes checkpoints (periodic, best, last), CSV, TensorBoard events and plots', async () => {
    const r = await new TrainingPipeline(experiment('full'), { progress: false }).execute();
    expect(r.epochs).toBe(4);
    expect(r.history[3].loss).toBeLessThan(r.history[0].loss);
    const names = readdirSync(path.join(r.output, 'checkpoints')).sort();
    expect(names).toEqual(expect.arrayContaining(['best.json', 'best.pt', 'epoch-2.pt', 'epoch-4.pt', 'last.json', 'last.pt']));
    const csv = readFileSync(path.join(r.output, 'stats.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('epoch,loss,valLoss,lr,seconds,lossWindowMean,lossWindowVar');
    expect(csv.length).toBe(5);
    expect(existsSync(path.join(r.output, 'loss.png'))).toBe(true);
    expect(existsSync(path.join(r.output, 'config.resolved.yaml'))).toBe(true);
    const events = readdirSync(r.output).find((f) => f.startsWith('events.out.tfevents.'))!;
    const decoded: { tag?: string; step?: number; value?: number; histogram?: Record<number, number>; file_version?: string }[] = JSON.parse(
      execFileSync(PYTHON, ['test/helpers/tfevents.py', path.join(r.output, events)], { encoding: 'utf8' }),
    );
    expect(decoded[0].file_version).toBe('brain.Event:2');
    const tags = new Set(decoded.map((e) => e.tag).filter(Boolean));
    for (const t of ['loss/batch', 'loss/epoch', 'loss/epoch_window_mean', 'loss/epoch_window_var', 'loss/validation', 'lr', 'weights/l0_weight', 'gradients/l0_weight']) expect(tags.has(t)).toBe(true);
    const epochLoss = decoded.filter((e) => e.tag === 'loss/epoch').map((e) => e.value!);
    epochLoss.forEach((v, i) => expect(v).toBeCloseTo(r.history[i].loss, 5));
    const histo = decoded.find((e) => e.tag === 'weights/l0_weight')!.histogram!;
    expect(histo[3]).toBe(8 * 32); // num = the weight count
  });

  it('a run resumed from its last checkpoint continues exactly (same weights as a straight run)', async () => {
    const straight = await new TrainingPipeline(experiment('straight'), { progress: false }).execute();
    const half = await new TrainingPipeline(experiment('half', { 'training.epochs': '2' }), { progress: false }).execute();
    const resumed = await new TrainingPipeline(experiment('half', { 'training.epochs': '4' }), { progress: false, resume: path.join(half.output, 'checkpoints', 'last.pt') }).execute();
    expect(resumed.epochs).toBe(2);
    expect(resumed.history.map((h) => h.epoch)).toEqual([0, 1, 2, 3]);
    const a = (await loadCheckpoint(path.join(straight.output, 'checkpoints', 'last.pt'))).model.parameters();
    const b = (await loadCheckpoint(path.join(resumed.output, 'checkpoints', 'last.pt'))).model.parameters();
    // Bit for bit: weights, optimizer state, counters, normalization and data order resume
    // exactly (training runs TorchScript's plain interpreter, see Trainer::step).
    for (const k of Object.keys(a)) expect(Array.from(b[k].data as Float32Array)).toEqual(Array.from(a[k].data as Float32Array));
    resumed.history.forEach((h, i) => expect(h.loss).toBe(straight.history[i].loss));
  });

  it('stops early when validation stops improving, and calls the hooks', async () => {
    const seen: string[] = [];
    const r = await new TrainingPipeline(experiment('early', { 'training.epochs': '50', 'optimizer.lr': '1e-9', 'training.earlyStopping': '{ patience: 2, minDelta: 0.1 }' }), {
      progress: false,
      hooks: { onEpochStart: (e) => void seen.push(`start ${e}`), onEpochEnd: (rec) => void seen.push(`end ${rec.epoch}`) },
    }).execute();
    expect(r.stoppedEarly).toBe(true);
    expect(r.epochs).toBe(3); // epoch 0 sets the best, 1 and 2 do not improve by 0.1
    expect(seen).toEqual(['start 0', 'end 0', 'start 1', 'end 1', 'start 2', 'end 2']);
  });
});

describe('checkpoints, prediction and evaluation', () => {
  it('loads a checkpoint from a path, a file:// URL and an http:// URL (a local server)', async () => {
    const r = await new TrainingPipeline(experiment('served', { 'training.epochs': '1' }), { progress: false }).execute();
    const ckpt = path.join(r.output, 'checkpoints');
    const server = createServer((req, res) => {
      const f = path.join(ckpt, path.basename(req.url ?? ''));
      if (!existsSync(f)) return void res.writeHead(404).end();
      res.writeHead(200).end(readFileSync(f));
    });
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    const port = (server.address() as { port: number }).port;
    try {
      const local = await loadCheckpoint(path.join(ckpt, 'last.pt'));
      const viaFile = await loadCheckpoint(pathToFileURL(path.join(ckpt, 'last.pt')).href);
      const viaHttp = await loadCheckpoint(`http://127.0.0.1:${port}/last.pt`);
      expect(viaHttp.state?.epoch).toBe(0);
      expect(viaFile.state?.normalization).toEqual(local.state?.normalization);
      expect(Array.from(viaHttp.model.parameters().l0_weight.data)).toEqual(Array.from(local.model.parameters().l0_weight.data));
      await expect(loadCheckpoint(`http://127.0.0.1:${port}/missing.pt`)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(/HTTP 404/) });
    } finally {
      server.close();
    }
  });

  it('prediction drives the environment; evaluation computes built-in and custom metrics on held-out data', async () => {
    const exp = experiment('pe', { 'training.epochs': '3' });
    const r = await new TrainingPipeline(exp, { progress: false }).execute();
    const best = path.join(r.output, 'checkpoints', 'best.pt');
    const p = await runPrediction(exp, best, { steps: 20, record: false });
    expect(p.steps).toBe(20);
    expect(p.rmse).toBeLessThan(p.targetRms); // better than predicting zero
    const m = await runEvaluation(exp, best, { metrics: { mse: 'mse', mae: 'mae', bias: (pr, t) => pr.reduce((a, v, i) => a + v - t[i], 0) / pr.length } });
    expect(m.samples).toBe(64 * 8);
    expect(m.mse).toBeGreaterThan(0);
    expect(m.mae ** 2).toBeLessThanOrEqual(m.mse + 1e-12);
    expect(Number.isFinite(m.bias)).toBe(true);
  });
});

describe('CLI', () => {
  const cli = (...args: string[]) => execFileSync(process.execPath, ['bin/torchloop.mjs', ...args], { encoding: 'utf8' });

  it('inspect prints methods, signatures and the parameter count (--json for machines)', () => {
    const info = JSON.parse(cli('inspect', fixture('mlp_m2.pt'), '--json'));
    expect(info.parameters).toBe(48 * 256 + 256 + 256 * 256 + 256 + 256 * 12 + 12);
    expect(info.methods[0]).toMatchObject({ name: 'forward', returns: 'Tensor' });
    expect(cli('inspect', fixture('mlp_m2.pt'))).toMatch(/81420 parameters/);
  });

  it('train and evaluate a config with overrides; a typo exits 1 with the nearest key', () => {
    const out = path.join(dir, 'cli');
    const common = ['--output', out, '--database.file', dataset, '--database.source', 'load', '--environment.workers', '0', '--environment.options', '{ nodes: 8, iterations: 20 }', '--network.mlp', '{ sizes: [8, 16, 8] }', '--validation.samples', '64'];
    cpSync(CONFIG, path.join(dir, 'cli.yaml'));
    cpSync(path.resolve('demo/learn/base.yaml'), path.join(dir, 'base.yaml'));
    const r = JSON.parse(cli('train', path.join(dir, 'cli.yaml'), '--training.epochs', '2', ...common, '--environment.module', path.resolve('lib/data/examples/spring-chain.ts'), '--json'));
    expect(r.epochs).toBe(2);
    const m = JSON.parse(cli('evaluate', path.join(dir, 'cli.yaml'), '--checkpoint', path.join(out, 'checkpoints', 'best.pt'), ...common, '--environment.module', path.resolve('lib/data/examples/spring-chain.ts'), '--json'));
    expect(m.mse).toBeGreaterThan(0);
    let err = '';
    try {
      cli('train', path.join(dir, 'cli.yaml'), '--trainng.epochs', '2');
    } catch (e) {
      err = (e as { stderr: string; status: number }).stderr;
      expect((e as { status: number }).status).toBe(1);
    }
    expect(err).toMatch(/unknown key 'trainng' \(did you mean 'training'\?\)/);
  });
});
