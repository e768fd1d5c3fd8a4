/**
 * One grid run inside a worker process (local or NATS): the job's experiment trained by the
 * ordinary TrainingPipeline into its run folder. A retried run (its worker was lost) resumes
 * from the run folder's last checkpoint when the folder is here, which continues exactly.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { TorchError } from '../errors.ts';
import { resolvePath, validateExperiment } from '../learn/config.ts';
import { prepareData, withLock } from '../learn/data-parallel.ts';
import { TrainingPipeline } from '../learn/pipelines.ts';
import type { GridJob } from './spec.ts';

export interface RunResult {
  id: string;
  status: 'done' | 'failed';
  attempt: number;
  bestValLoss: number | null;
  /** The epoch (0-based) of the best validation loss. */
  bestEpoch: number | null;
  /** Epochs the run has in all (a resumed attempt counts the ones before it). */
  epochs: number;
  stoppedEarly: boolean;
  /** The epoch a retried attempt resumed after (null: it started afresh). */
  resumedFrom: number | null;
  seconds: number;
  worker: string;
  output: string;
  /** Per epoch: [loss, validation loss or null]. */
  curve: [number, number | null][];
  error?: string;
}

export interface RunOptions {
  /** Where run folders go on this machine (default: the grid's output, as the job says). */
  gridOutput: string;
  /** The base config's folder on this machine, when it differs from the job's. */
  baseDir?: string;
  worker: string;
  /** Called between batches at most every `everyMs` (the worker's heartbeat; it may await). */
  onAlive?: () => void | Promise<void>;
  onEpoch?: (epoch: number, valLoss: number | null) => void;
}

export async function executeRun(job: GridJob, o: RunOptions): Promise<RunResult> {
  const t0 = performance.now();
  const output = path.join(o.gridOutput, job.folder);
  const baseDir = o.baseDir ?? (existsSync(job.baseDir) ? job.baseDir : process.cwd());
  const result: RunResult = { id: job.id, status: 'failed', attempt: job.attempt, bestValLoss: null, bestEpoch: null, epochs: 0, stoppedEarly: false, resumedFrom: null, seconds: 0, worker: o.worker, output, curve: [] };
  try {
    const exp = validateExperiment({ ...job.document, output }, baseDir);
    const db = resolvePath(exp, exp.database.file);
    await withLock(`${db}.torchloop-lock`, () => prepareData(exp));
    const last = path.join(output, exp.checkpoint.dir, 'last.pt');
    const resume = job.attempt > 1 && exp.checkpoint.last && existsSync(last) && existsSync(last.replace(/\.pt$/, '.json')) ? last : undefined;
    let lastAlive = performance.now();
    const alive = async () => {
      if (performance.now() - lastAlive < 250) return;
      lastAlive = performance.now();
      await o.onAlive?.();
    };
    const report = await new TrainingPipeline(exp, {
      progress: false,
      resume,
      hooks: {
        onBatchEnd: alive,
        onEpochEnd: async (r) => {
          o.onEpoch?.(r.epoch, r.valLoss);
          await alive();
        },
      },
    }).execute();
    if (resume) result.resumedFrom = report.history.length - report.epochs - 1;
    result.status = 'done';
    result.bestValLoss = report.bestValLoss;
    const best = report.history.filter((h) => h.valLoss !== null).reduce<{ epoch: number; v: number } | null>((b, h) => (b === null || (h.valLoss as number) < b.v ? { epoch: h.epoch, v: h.valLoss as number } : b), null);
    result.bestEpoch = best?.epoch ?? null;
    result.epochs = report.lastEpoch + 1;
    result.stoppedEarly = report.stoppedEarly;
    result.curve = report.history.map((h) => [h.loss, h.valLoss]);
  } catch (e) {
    result.error = e instanceof TorchError ? `${e.code}: ${e.message}` : (e as Error)?.message ?? String(e);
  }
  result.seconds = (performance.now() - t0) / 1000;
  return result;
}
