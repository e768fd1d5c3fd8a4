import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { DataGeneration, TrainingPipeline, loadCheckpoint, loadExperiment, runEvaluation, runPrediction, type Experiment } from '../../lib/index.ts';
import { PYTHON, fixture } from '../helpers/fixtures.ts';

/** A run folder's scalars and histogram tags as TensorBoard's EventAccumulator reads them (PyTorch 2.13's venv has tensorboard). */
function tensorboard(dir: string): { scalars: Record<string, [number, number][]>; histograms: string[] } {
  return JSON.parse(execFileSync(path.resolve('.torch/bin/python'), ['test/helpers/tb_scalars.py', dir], { encoding: 'utf8' }));
}

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
    expect(csv[1].split(',')[4]).not.toBe(''); // seconds: column 4, left out when runs are compared
    expect(csv.length).toBe(5);
    expect(existsSync(path.join(r.output, 'loss.png'))).toBe(true);
    expect(existsSync(path.join(r.output, 'config.resolved.yaml'))).toBe(true);
    const events = readdirSync(r.output).find((f) => f.startsWith('events.out.tfevents.'))!;
    const decoded: { tag?: string; step?: number; value?: number; histogram?: Record<number, number>; file_version?: string }[] = JSON.parse(
      execFileSync(PYTHON, ['test/helpers/tfevents.py', path.join(r.output, events)], { encoding: 'utf8' }),
    );
    expect(decoded[0].file_version).toBe('brain.Event:2');
    const tags = new Set(decoded.map((e) => e.tag).filter(Boolean));
    // DeepPhysX's StatsManager layout.
    for (const t of ['Train/Batch/Loss', 'Train/Batch/Mean', 'Train/Batch/Variance', 'Train/Epoch/Loss', 'Train/Epoch/Mean', 'Train/Epoch/Variance', 'Test/Valid/Loss', 'Test/Valid/Mean', 'Test/Valid/Variance', 'lr/Value', 'weights/l0_weight', 'grads/l0_weight']) expect(tags.has(t), t).toBe(true);
    const epochLoss = decoded.filter((e) => e.tag === 'Train/Epoch/Loss').map((e) => e.value!);
    epochLoss.forEach((v, i) => expect(v).toBeCloseTo(r.history[i].loss, 5));
    // TensorBoard itself reads every tag and value.
    const tb = tensorboard(r.output);
    expect(tb.scalars['Train/Epoch/Loss'].map(([step]) => step)).toEqual([0, 1, 2, 3]);
    expect(tb.scalars['Train/Batch/Loss'].length).toBe(r.history.length * 8); // 256 training samples / 32
    expect(tb.histograms).toEqual(expect.arrayContaining(['weights/l0_weight', 'grads/l0_weight']));
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
    // stats.csv continues (it was truncated on resume), and TensorBoard's scalars match the straight run's.
    const rows = (out: string) => readFileSync(path.join(out, 'stats.csv'), 'utf8').trim().split('\n').map((l) => l.split(',').filter((_, i) => i !== 4)); // without seconds
    expect(rows(resumed.output)).toEqual(rows(straight.output));
    const a2 = tensorboard(straight.output).scalars, b2 = tensorboard(resumed.output).scalars;
    expect(Object.keys(b2).sort()).toEqual(Object.keys(a2).sort());
    for (const t of Object.keys(a2)) expect(b2[t], t).toEqual(a2[t]);
  });

  it('training.batchesPerEpoch holds on a stored database, so the cosine schedule ends where it should', async () => {
    const r = await new TrainingPipeline(experiment('per-epoch', { 'training.batchesPerEpoch': '2', 'optimizer.schedule': 'cosine', 'training.epochs': '3' }), { progress: false }).execute();
    const tb = tensorboard(r.output);
    expect(tb.scalars['Train/Batch/Loss'].length).toBe(3 * 2);
    const lrs = r.history.map((h) => h.lr);
    for (let i = 1; i < lrs.length; i++) expect(lrs[i]).toBeLessThan(lrs[i - 1]); // decays, never wraps back up
  });

  it('resuming keeps the checkpoint\'s learning rate (and says so), and says when nothing is left to train', async () => {
    const said: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (said.push(String(chunk)), true));
    try {
      const first = await new TrainingPipeline(experiment('lr-a', { 'training.epochs': '1', 'optimizer.lr': '0.01' }), { progress: false }).execute();
      const ckpt = path.join(first.output, 'checkpoints', 'last.pt');
      const resumed = await new TrainingPipeline(experiment('lr-a', { 'training.epochs': '2', 'optimizer.lr': '0.5' }), { progress: false, resume: ckpt }).execute();
      expect(resumed.history[1].lr).toBe(first.history[0].lr);
      expect(said.join('')).toMatch(/resuming with the checkpoint's learning rate 0\.01 \(the config says 0\.5/);
      const none = await new TrainingPipeline(experiment('lr-a', { 'training.epochs': '1' }), { progress: false, resume: ckpt }).execute();
      expect(none.epochs).toBe(0);
      expect(said.join('')).toMatch(/the checkpoint has run 2 epoch\(s\), training\.epochs is 1: nothing left to train/); // last.pt is the resumed run's
    } finally {
      spy.mockRestore();
    }
  });

  it('a run folder holds the resolved config, info.json/info.txt, stats, checkpoints and plots; notify hears of the end and of a failure', async () => {
    const heard: Record<string, unknown>[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        heard.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/hook`;
    const marker = path.join(dir, 'notified.txt');
    try {
      const r = await new TrainingPipeline(experiment('artifacts', { 'training.epochs': '1', notify: `{ url: '${url}', command: 'echo "$TORCHLOOP_RUN_STATUS $TORCHLOOP_RUN_OUTPUT" > ${marker}' }` }), { progress: false }).execute();
      for (const f of ['config.resolved.yaml', 'info.json', 'info.txt', 'stats.csv', 'loss.png']) expect(existsSync(path.join(r.output, f)), f).toBe(true);
      const info = JSON.parse(readFileSync(path.join(r.output, 'info.json'), 'utf8'));
      expect(info.versions.libtorch).toMatch(/^\d+\.\d+/);
      expect(info.versions.node).toBe(process.version);
      expect(info.seed).toBeTypeOf('number');
      expect(info.git === null || /^[0-9a-f]{40}$/.test(info.git.commit)).toBe(true);
      expect(readFileSync(path.join(r.output, 'info.txt'), 'utf8')).toMatch(/^run {8}/);
      expect(heard).toEqual([expect.objectContaining({ status: 'finished', output: r.output, epochs: 1 })]);
      expect(readFileSync(marker, 'utf8').trim()).toBe(`finished ${r.output}`);
      await expect(new TrainingPipeline(experiment('broken', { 'network.file': 'missing.pt', 'network.mlp': 'null', notify: `{ url: '${url}' }` }), { progress: false }).execute()).rejects.toThrow();
      expect(heard[1]).toMatchObject({ status: 'failed', error: expect.stringMatching(/missing\.pt/) });
    } finally {
      server.close();
    }
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
