import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { redact } from '../nats-options.ts';
import { fileURLToPath } from 'node:url';
import { TorchError } from '../errors.ts';
import { Model } from '../model.ts';
import type { Trainer } from '../train/trainer.ts';
import type { Normalization } from '../data/database.ts';
import type { Experiment } from './config.ts';
import type { EpochRecord } from './stats.ts';

/** What a checkpoint holds beside its TorchScript file (`<name>.pt` + `<name>.json`). */
export interface CheckpointState {
  epoch: number;
  step: number;
  bestValLoss: number | null;
  epochsWithoutImprovement: number;
  normalization: Record<string, Normalization> | null;
  config: Omit<Experiment, 'baseDir'>;
  history: EpochRecord[];
  /** The stats' running windows (TensorBoard means and variances), so a resumed run writes what a straight one would. */
  windows?: Record<string, number[]>;
}

/**
 * Writes `<dir>/<name>.pt` (TorchScript with the optimizer state inside, see Trainer.save)
 * and `<dir>/<name>.json` (epoch, counters, normalization, resolved config, stats history),
 * so a run resumed from it continues exactly.
 */
export function saveCheckpoint(dir: string, name: string, trainer: Trainer, state: CheckpointState): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.pt`);
  trainer.save(file);
  const { baseDir: _, ...config } = state.config as Experiment;
  writeFileSync(path.join(dir, `${name}.json`), JSON.stringify({ ...state, config: redact(config) }, null, 1));
  return file;
}

/** Loads a checkpoint from a path, a file:// URL or an http(s):// URL (the .pt and its .json beside it). */
export async function loadCheckpoint(where: string): Promise<{ model: Model; state: CheckpointState | null }> {
  if (/^https?:\/\//.test(where)) {
    const get = async (url: string) => {
      const r = await fetch(url);
      if (!r.ok) throw new TorchError('ERR_MODEL_LOAD', `Cannot fetch the checkpoint ${url}: HTTP ${r.status}`);
      return Buffer.from(await r.arrayBuffer());
    };
    const model = await Model.load(await get(where));
    const jsonUrl = where.replace(/\.pt$/, '.json');
    let state: CheckpointState | null = null;
    try {
      state = JSON.parse((await get(jsonUrl)).toString('utf8'));
    } catch {
      state = null; // a bare model without torchloop's sidecar
    }
    return { model, state };
  }
  const file = where.startsWith('file:') ? fileURLToPath(where) : where;
  const model = await Model.load(file);
  const json = file.replace(/\.pt$/, '.json');
  return { model, state: existsSync(json) ? JSON.parse(readFileSync(json, 'utf8')) : null };
}
