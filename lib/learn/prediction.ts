import { TorchError } from '../errors.ts';
import type { Mode } from '../data/database.ts';
import { nodeErrors } from '../data/fields.ts';
import { loadCheckpoint } from './checkpoint.ts';
import type { Experiment } from './config.ts';
import { NetworkManager } from './network-manager.ts';
import { environmentsFor, openDatabase, sizeOf } from './pipelines.ts';

/** One prediction next to the solver's answer (what the prediction page draws). */
export interface PredictionFrame {
  index: number;
  input: Float32Array;
  truth: Float32Array;
  prediction: Float32Array;
  /** Mean and max error over the nodes (or values), relative to the largest true node displacement (value). */
  error: { mean: number; max: number };
  networkMs: number;
  solverMs: number;
}

export interface PredictionReport {
  steps: number;
  /** RMS error of the predicted target against the simulation's own, in the field's units. */
  rmse: number;
  /** RMS of the target itself, for scale. */
  targetRms: number;
  /** Mean over the predictions of each one's mean error, relative to its largest true displacement (DeepPhysX's measure). */
  meanError: number;
  /** Mean over the predictions of each one's max error, relative the same way; and the worst of them. */
  maxError: number;
  worstError: number;
  /** Median milliseconds per sample: the network's prediction, and the solver's (the environment's step). */
  networkMs: number;
  solverMs: number;
  /** solverMs / networkMs: what the surrogate saves, the point of the method. */
  speedup: number;
  /** Mean physics residual the predictions leave (environments that report `lastResidual`), against the simulation's. */
  predictedResidual: number;
  simulatedResidual: number;
  seconds: number;
}

const median = (a: number[]) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : 0;
};

/**
 * Prediction (DeepPhysX's prediction pipeline): the network and the solver side by side on
 * new samples. Each step the environment simulates (timed: the solver), the network predicts
 * the target from the input (timed), and applyPrediction() receives it. The errors are
 * measured per prediction: over the nodes of a [nodes, d] field, relative to the largest true
 * node displacement; and the samples with their predictions are stored in 'prediction' mode.
 */
export async function runPrediction(
  exp: Experiment,
  checkpoint: string,
  options: { steps?: number; record?: boolean; onPrediction?: (frame: PredictionFrame) => void | Promise<void>; onStart?: (env: unknown) => void | Promise<void> } = {},
): Promise<PredictionReport> {
  const { model, state } = await loadCheckpoint(checkpoint);
  const envs = environmentsFor(exp, 0);
  await envs.start();
  const env = envs.environment!;
  const network = new NetworkManager({ model, input: exp.network.input, target: exp.network.target, normalization: state?.normalization ?? null });
  const record = options.record ?? exp.prediction.record;
  const db = record ? openDatabase(exp, env.fields) : null;
  const steps = options.steps ?? exp.prediction.steps;
  const target = env.fields.find((f) => f.name === exp.network.target);
  if (!target) throw new TorchError('ERR_NOT_FOUND', `The environment has no field '${exp.network.target}' (network.target)`);
  const dim = target.shape.length > 1 ? target.shape[target.shape.length - 1] : 1;
  let se = 0, ss = 0, n = 0, resPred = 0, resSim = 0, meanErr = 0, maxErr = 0, worst = 0;
  const netMs: number[] = [], simMs: number[] = [];
  const t0 = performance.now();
  try {
    await options.onStart?.(env);
    for (let s = 0; s < steps; s++) {
      const s0 = performance.now();
      const { values } = await envs.getBatch(1);
      const s1 = performance.now();
      const pred = network.predict(values, 1);
      const p = Float32Array.from(pred.data as Float32Array);
      const s2 = performance.now();
      simMs.push(s1 - s0);
      netMs.push(s2 - s1);
      resSim += Number((values.residual as Float32Array | undefined)?.[0] ?? 0);
      await env.applyPrediction({ [exp.network.target]: p });
      resPred += (env as unknown as { lastResidual?: number }).lastResidual ?? 0;
      const truth = values[exp.network.target] as Float32Array;
      for (let i = 0; i < truth.length; i++) {
        se += (p[i] - truth[i]) ** 2;
        ss += truth[i] ** 2;
        n++;
      }
      const error = nodeErrors(truth, p, dim);
      meanErr += error.mean;
      maxErr += error.max;
      worst = Math.max(worst, error.max);
      await options.onPrediction?.({ index: s, input: values[exp.network.input] as Float32Array, truth, prediction: p, error, networkMs: s2 - s1, solverMs: s1 - s0 });
      if (db) db.add('prediction', { ...values, [exp.network.target]: p }, 1);
    }
  } finally {
    db?.close();
    await envs.close();
    model.dispose();
  }
  const networkMs = median(netMs), solverMs = median(simMs);
  return {
    steps,
    rmse: Math.sqrt(se / n),
    targetRms: Math.sqrt(ss / n),
    meanError: meanErr / steps,
    maxError: maxErr / steps,
    worstError: worst,
    networkMs,
    solverMs,
    speedup: solverMs / networkMs,
    predictedResidual: resPred / steps,
    simulatedResidual: resSim / steps,
    seconds: (performance.now() - t0) / 1000,
  };
}

export type Metric = 'mse' | 'mae' | 'max' | ((prediction: Float32Array, target: Float32Array) => number);

/** Metrics of a checkpoint on a held-out mode of the database, in the target's units. */
export async function runEvaluation(exp: Experiment, checkpoint: string, options: { mode?: Mode; metrics?: Record<string, Metric> } = {}): Promise<Record<string, number> & { samples: number }> {
  const { model, state } = await loadCheckpoint(checkpoint);
  const db = openDatabase(exp);
  const network = new NetworkManager({ model, input: exp.network.input, target: exp.network.target, normalization: state?.normalization ?? null });
  const metrics: Record<string, Metric> = options.metrics ?? Object.fromEntries(exp.testing.metrics.map((m) => [m, m]));
  const preds: number[] = [], targets: number[] = [];
  try {
    for (const values of db.batches(options.mode ?? 'validation', 256, { shuffle: false })) {
      const n = sizeOf(values, db);
      preds.push(...(network.predict(values, n).data as Float32Array));
      targets.push(...(values[exp.network.target] as Float32Array));
    }
  } finally {
    db.close();
    model.dispose();
  }
  if (!targets.length) throw new TorchError('ERR_NOT_FOUND', `No '${options.mode ?? 'validation'}' samples to evaluate on in ${exp.database.file}`);
  const p = Float32Array.from(preds), t = Float32Array.from(targets);
  const result: Record<string, number> = { samples: t.length };
  for (const [name, m] of Object.entries(metrics)) {
    if (typeof m === 'function') result[name] = m(p, t);
    else if (m === 'mse') result[name] = p.reduce((a, v, i) => a + (v - t[i]) ** 2, 0) / p.length;
    else if (m === 'mae') result[name] = p.reduce((a, v, i) => a + Math.abs(v - t[i]), 0) / p.length;
    else result[name] = p.reduce((a, v, i) => Math.max(a, Math.abs(v - t[i])), 0);
  }
  return result as Record<string, number> & { samples: number };
}
