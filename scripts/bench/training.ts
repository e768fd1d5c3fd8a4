import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Model, Tensor, Trainer, manualSeed, setNumThreads } from '../../lib/index.ts';

export interface TrainingRow {
  model: string;
  batch: number;
  threads: number;
  torchloopSync: number;
  torchloopAsync: number;
  pythonScripted: number;
  pythonEager: number;
}

/** Samples/s of Adam + MSE training on the same TorchScript file, in torchloop (the main build) and in the PyTorch of the same version, same threads. */
export async function trainingThroughput(fixtures: string, python: string, quick: boolean): Promise<TrainingRow[]> {
  const cases = [
    { model: 'M2', file: 'mlp_m2.pt', dIn: 48, dOut: 12, batch: 64, steps: quick ? 100 : 1000 },
    { model: 'M3', file: 'mlp_m3.pt', dIn: 512, dOut: 512, batch: 64, steps: quick ? 10 : 60 },
  ];
  const rows: TrainingRow[] = [];
  for (const threads of [1, 2]) {
    setNumThreads(threads);
    for (const c of cases) {
      manualSeed(0);
      const m = Model.loadSync(path.join(fixtures, c.file));
      const trainer = new Trainer(m, { optimizer: 'adam', lr: 1e-3, loss: 'mse' });
      const x = new Tensor(Float32Array.from({ length: c.batch * c.dIn }, (_, i) => Math.sin(i)), [c.batch, c.dIn]);
      const y = new Tensor(Float32Array.from({ length: c.batch * c.dOut }, (_, i) => Math.cos(i)), [c.batch, c.dOut]);
      for (let i = 0; i < Math.max(5, c.steps / 10); i++) trainer.stepSync([x], y);
      let t0 = performance.now();
      for (let i = 0; i < c.steps; i++) trainer.stepSync([x], y);
      const sync = (c.steps * c.batch) / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      for (let i = 0; i < c.steps; i++) await trainer.step([x], y);
      const async = (c.steps * c.batch) / ((performance.now() - t0) / 1000);
      trainer.dispose();
      m.dispose();
      const py = JSON.parse(
        execFileSync(python, [path.join(import.meta.dirname, 'train_baseline.py'), path.join(fixtures, c.file), String(c.dIn), String(c.dOut), String(c.batch), String(c.steps), String(threads)], {
          encoding: 'utf8',
          env: { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
        }),
      );
      rows.push({ model: c.model, batch: c.batch, threads, torchloopSync: sync, torchloopAsync: async, pythonScripted: py.scripted, pythonEager: py.eager });
      console.log(`  ${c.model} batch ${c.batch}, ${threads} thread(s): torchloop ${sync.toFixed(0)} samples/s (async ${async.toFixed(0)}), PyTorch ${py.scripted.toFixed(0)} scripted / ${py.eager.toFixed(0)} eager`);
    }
  }
  setNumThreads(1);
  return rows;
}
