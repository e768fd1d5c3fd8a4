// The MuJoCo beam (DeepPhysX's demo): samples per second from WASM MuJoCo in Node workers
// against the pip wheel's MuJoCo in Python clients over NATS; training time to a mean
// displacement error under 5%; the network's time per sample against the solver's.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BeamEnvironment, DataGeneration, DatabaseManager, EnvironmentManager, RemoteSampleSink, TrainingPipeline, loadExperiment, loadCheckpoint, nodeErrors, runPrediction } from '../../lib/index.ts';
import { NetworkManager } from '../../lib/learn/network-manager.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const beam = { module: path.join(root, 'lib/data/examples/beam.ts'), exportName: 'BeamEnvironment' };

export interface BeamDataFigures {
  /** Samples per second: 'wasm, 1 worker', 'wasm, 2 workers', 'python, 1 client', 'python, 2 clients'. */
  samplesPerSecond: Record<string, number>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Python clients over NATS: timed at the sink, from the first batch stored to the last (start-up excluded). */
async function pythonRate(python: string, clients: number, batches: number, batchSize: number): Promise<number> {
  const port = await freePort();
  const store = mkdtempSync(path.join(tmpdir(), 'tl-bench-nats-'));
  const server = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    server.stderr!.on('data', (d: Buffer) => (log += d) && log.includes('Server is ready') && resolve());
    server.once('exit', (c) => reject(new Error(`nats-server exited ${c}: ${log}`)));
  });
  const env = new BeamEnvironment();
  await env.create();
  const dir = mkdtempSync(path.join(tmpdir(), 'tl-bench-py-'));
  const db = DatabaseManager.open(path.join(dir, 'py.sqlite'), { fields: env.fields });
  env.close();
  try {
    const procs = Array.from({ length: clients }, (_, i) =>
      spawn(python, ['-m', 'torchloop_env', '--servers', `127.0.0.1:${port}`, '--dataset', 'bench', '--client-id', `py-${i}`, '--env', 'torchloop_env.beam:BeamEnvironment', '--seed', String(i + 1), '--batch-size', String(batchSize), '--batches', String(batches)], { stdio: 'ignore' }),
    );
    const sink = new RemoteSampleSink({ servers: `127.0.0.1:${port}`, dataset: 'bench', database: db });
    // Warm: one batch per client (Python's and MuJoCo's start-up), then the timed rest.
    await sink.receive({ samples: clients * batchSize, timeoutMs: 120_000 });
    const t0 = performance.now();
    const got = await sink.receive({ samples: clients * (batches - 1) * batchSize, timeoutMs: 600_000 });
    const rate = got / ((performance.now() - t0) / 1000);
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(0) : p.once('exit', r)))));
    return rate;
  } finally {
    db.close();
    server.kill();
    rmSync(dir, { recursive: true, force: true });
    rmSync(store, { recursive: true, force: true });
  }
}

export async function beamData(quick: boolean, python: string): Promise<BeamDataFigures> {
  const samplesPerSecond: Record<string, number> = {};
  const batches = quick ? 2 : 6, batchSize = 16;
  for (const workers of [1, 2]) {
    const m = new EnvironmentManager({ environment: beam, workers, seed: 1 });
    await m.start();
    await m.getBatch(2 * workers); // every worker's MuJoCo compiled and warm
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) await m.getBatch(batchSize * workers);
    samplesPerSecond[`wasm, ${workers} worker${workers > 1 ? 's' : ''}`] = (batches * batchSize * workers) / ((performance.now() - t0) / 1000);
    await m.close();
  }
  const hasClient = spawnSync(python, ['-c', 'import torchloop_env.beam, nats, mujoco']).status === 0;
  const hasNats = spawnSync('nats-server', ['--version']).status === 0;
  if (hasClient && hasNats) {
    for (const clients of [1, 2]) samplesPerSecond[`python, ${clients} client${clients > 1 ? 's' : ''}`] = await pythonRate(python, clients, batches + 1, batchSize);
  } else console.log(`  (no Python clients: ${hasNats ? '' : 'nats-server '}${hasClient ? '' : 'torchloop_env with mujoco and nats-py '}missing; npm run bench's setup installs them)`);
  return { samplesPerSecond };
}

export interface BeamPipelineFigures {
  samples: number;
  generateSeconds: number;
  /** Training seconds until the validation set's mean node error fell under 5% of its max displacement (null: never). */
  secondsTo5Percent: number | null;
  epochsTo5Percent: number | null;
  /** The mean and max error reached at the end, and the epochs run. */
  finalMeanError: number;
  finalMaxError: number;
  epochs: number;
  trainSeconds: number;
  networkMs: number;
  solverMs: number;
  speedup: number;
}

/** demo/learn/beam.yaml's experiment: generate, train (timing the error after each epoch), predict. */
export async function beamPipeline(quick: boolean): Promise<BeamPipelineFigures> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tl-bench-beam-'));
  writeFileSync(path.join(dir, 'bench.yaml'), `defaults: [${path.join(root, 'demo/learn/beam.yaml')}]\noutput: ${path.join(dir, 'run')}\ndatabase:\n  file: ${path.join(dir, 'beam.sqlite')}\nstats:\n  plots: false\n  tensorboard: false\n`);
  const exp = loadExperiment(path.join(dir, 'bench.yaml'), quick ? { 'training.epochs': '6', 'training.batchesPerEpoch': '8', 'validation.samples': '64', 'prediction.steps': '10' } : {});
  const t0 = performance.now();
  const gen = await new DataGeneration({ environment: beam, environmentOptions: exp.environment.options, workers: exp.environment.workers, seed: exp.seed, database: path.join(dir, 'beam.sqlite'), batchNb: exp.training.batchesPerEpoch, batchSize: exp.training.batchSize }).execute();
  const generateSeconds = (performance.now() - t0) / 1000;
  let trainSeconds = 0, secondsTo5Percent: number | null = null, epochsTo5Percent: number | null = null, last = { mean: 1, max: 1 };
  let epochStart = 0;
  const pipeline = new TrainingPipeline(exp, {
    progress: false,
    hooks: {
      onEpochStart: () => void (epochStart = performance.now()),
      onEpochEnd: async (rec) => {
        trainSeconds += (performance.now() - epochStart) / 1000; // the error below is measured off the clock
        const { model, state } = await loadCheckpoint(path.join(dir, 'run', exp.checkpoint.dir, 'last.pt'));
        const net = new NetworkManager({ model, input: 'forces', target: 'displacements', normalization: state?.normalization ?? null });
        const db = DatabaseManager.open(path.join(dir, 'beam.sqlite'));
        let mean = 0, max = 0, n = 0;
        for (const v of db.batches('validation', 256, { shuffle: false })) {
          const size = v.displacements.length / 216;
          const p = net.predict(v, size).data as Float32Array;
          for (let s = 0; s < size; s++) {
            const e = nodeErrors((v.displacements as Float32Array).subarray(s * 216, (s + 1) * 216), p.subarray(s * 216, (s + 1) * 216));
            mean += e.mean;
            max += e.max;
            n++;
          }
        }
        db.close();
        net.dispose();
        model.dispose();
        last = { mean: mean / n, max: max / n };
        if (secondsTo5Percent === null && last.mean < 0.05) [secondsTo5Percent, epochsTo5Percent] = [trainSeconds, rec.epoch + 1];
      },
    },
  });
  exp.checkpoint.last = true;
  const report = await pipeline.execute();
  const pred = await runPrediction(exp, path.join(dir, 'run', exp.checkpoint.dir, 'last.pt'), { record: false });
  rmSync(dir, { recursive: true, force: true });
  return { samples: gen.samples, generateSeconds, secondsTo5Percent, epochsTo5Percent, finalMeanError: last.mean, finalMaxError: last.max, epochs: report.epochs, trainSeconds, networkMs: pred.networkMs, solverMs: pred.solverMs, speedup: pred.speedup };
}
