import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DataGeneration, DatabaseManager, Tensor, Trainer, TrainingPipeline, loadExperiment, nn } from '../../lib/index.ts';

export interface PipelineFigures {
  pipelineSecondsPerEpoch: number;
  bareSecondsPerEpoch: number;
  ratio: number;
  batchesPerEpoch: number;
  /** Whether the pipeline stepped asynchronously (overlapping the next batch's read). */
  async: boolean;
}

/**
 * The training pipeline (database reads, normalization, stats to TensorBoard and CSV, a
 * checkpoint per epoch) against a bare Trainer loop over the same data held in memory.
 */
export async function pipelineOverhead(quick: boolean, async = false): Promise<PipelineFigures> {
  const root = path.resolve(import.meta.dirname, '..', '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'tl-bench-pipe-'));
  const dataset = path.join(dir, 'data.sqlite');
  const batches = 40, batchSize = 64, epochs = quick ? 2 : 6;
  await new DataGeneration({
    environment: { module: path.join(root, 'lib/data/examples/spring-chain.ts'), exportName: 'SpringChainEnvironment' },
    environmentOptions: { nodes: 16, iterations: 20 },
    database: dataset,
    batchNb: batches,
    batchSize,
    seed: 1,
    progress: false,
  }).execute();
  const sizes = [16, 256, 256, 16];
  const exp = loadExperiment(path.join(root, 'demo/learn/spring-chain.yaml'), {
    output: path.join(dir, 'run'),
    'database.file': dataset,
    'database.source': 'load',
    'environment.workers': '0',
    'network.mlp': `{ sizes: [${sizes}], activation: tanh }`,
    'training.epochs': String(epochs),
    'training.batchSize': String(batchSize),
    'validation.samples': '0',
    'checkpoint.saveFrequency': '0',
    'stats.histogramsEvery': '0',
    'training.async': String(async),
  });
  // The bare loop: the same batches, in memory, normalized once, straight into the Trainer.
  const db = DatabaseManager.open(dataset, { readonly: true });
  const norm = db.normalization('training');
  const data = [...db.batches('training', batchSize, { seed: 0 })].map((b) => {
    const x = Float32Array.from(b.loads as Float32Array, (v) => (v - norm.loads.mean) / norm.loads.std);
    const y = Float32Array.from(b.displacements as Float32Array, (v) => (v - norm.displacements.mean) / norm.displacements.std);
    return [new Tensor(x, [batchSize, 16]), new Tensor(y, [batchSize, 16])] as const;
  });
  db.close();
  const bare = () => {
    const net = nn.mlp(sizes, { activation: 'tanh', seed: 0 });
    const trainer = new Trainer(net, { optimizer: 'adam', lr: 0.002, loss: 'mse' });
    const times: number[] = [];
    for (let e = 0; e < epochs; e++) {
      const t0 = performance.now();
      for (const [x, y] of data) trainer.stepSync([x], y);
      times.push((performance.now() - t0) / 1000);
    }
    trainer.dispose();
    net.dispose();
    return times.slice(1).reduce((a, b) => a + b, 0) / (epochs - 1); // the first epoch profiles the JIT
  };
  // Bare before and after the pipeline: this machine's speed drifts between phases.
  const before = bare();
  const report = await new TrainingPipeline(exp, { progress: false }).execute();
  const pipelineSecondsPerEpoch = report.history.slice(1).reduce((a, h) => a + h.seconds, 0) / (epochs - 1);
  const bareSecondsPerEpoch = (before + bare()) / 2;
  rmSync(dir, { recursive: true, force: true });
  return { pipelineSecondsPerEpoch, bareSecondsPerEpoch, ratio: pipelineSecondsPerEpoch / bareSecondsPerEpoch, batchesPerEpoch: batches, async };
}
