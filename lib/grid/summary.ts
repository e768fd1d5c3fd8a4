/**
 * A finished grid's summary, in its output folder:
 * - summary.csv: one row per run (its values, seed, status, attempts, best validation loss
 *   and its epoch, epochs, seconds, worker, folder, and what happened to earlier attempts);
 * - summary.md: the points ranked by their mean best validation loss over seeds, then the runs;
 * - tensorboard/: TensorBoard's HParams data (the experiment at the top, a session per run
 *   with its loss curves), so that `tensorboard --logdir <grid>/tensorboard` compares the runs.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeExperiment, writeSessionEnd, writeSessionStart, type HParamValue } from '../learn/hparams.ts';
import { EventWriter } from '../learn/tensorboard.ts';
import type { RunResult } from './run.ts';
import { label, type Grid, type GridJob } from './spec.ts';

export interface RunRecord {
  job: GridJob;
  result: RunResult;
  /** Why earlier attempts ended (a lost worker), oldest first. */
  redone: string[];
}

export interface PointSummary {
  point: string;
  params: Record<string, unknown>;
  runs: number;
  done: number;
  meanBestValLoss: number | null;
  minBestValLoss: number | null;
  meanEpochs: number;
}

function hparam(v: unknown): HParamValue {
  return typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string' ? v : label(v);
}

const csvCell = (v: unknown) => {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};
const fmt = (v: number | null) => (v === null ? 'n/a' : v.toExponential(4));

export function pointSummaries(records: RunRecord[]): PointSummary[] {
  const byPoint = new Map<string, RunRecord[]>();
  for (const r of records) byPoint.set(r.job.point, [...(byPoint.get(r.job.point) ?? []), r]);
  const out = [...byPoint.entries()].map(([point, rs]) => {
    const losses = rs.map((r) => r.result.bestValLoss).filter((v): v is number => v !== null);
    return {
      point,
      params: rs[0].job.params,
      runs: rs.length,
      done: rs.filter((r) => r.result.status === 'done').length,
      meanBestValLoss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : null,
      minBestValLoss: losses.length ? Math.min(...losses) : null,
      meanEpochs: rs.reduce((a, r) => a + r.result.epochs, 0) / rs.length,
    };
  });
  return out.sort((a, b) => (a.meanBestValLoss ?? Infinity) - (b.meanBestValLoss ?? Infinity));
}

/** Writes summary.csv, summary.md and the HParams log; returns their paths. */
export function writeSummary(grid: Grid, records: RunRecord[], meta: { executor: string; seconds: number }): { csv: string; markdown: string; tensorboard: string } {
  mkdirSync(grid.output, { recursive: true });
  const sorted = [...records].sort((a, b) => a.job.index - b.job.index);
  const header = ['run', ...grid.keys, 'seed', 'status', 'attempts', 'best_val_loss', 'best_epoch', 'epochs', 'stopped_early', 'resumed_from_epoch', 'seconds', 'worker', 'folder', 'redone', 'error'];
  const rows = sorted.map((r) => [
    r.job.id,
    ...grid.keys.map((k) => (k in r.job.params ? label(r.job.params[k]) : '')),
    r.job.seed,
    r.result.status,
    r.result.attempt,
    r.result.bestValLoss,
    r.result.bestEpoch,
    r.result.epochs,
    r.result.stoppedEarly,
    r.result.resumedFrom,
    r.result.seconds.toFixed(2),
    r.result.worker,
    r.result.output,
    r.redone.join('; '),
    r.result.error ?? '',
  ]);
  const csv = path.join(grid.output, 'summary.csv');
  writeFileSync(csv, [header, ...rows].map((row) => row.map(csvCell).join(',')).join('\n') + '\n');

  const points = pointSummaries(sorted);
  const redone = sorted.filter((r) => r.redone.length > 0);
  const md = [
    `# Grid ${grid.name}`,
    '',
    `${sorted.length} runs (${sorted.filter((r) => r.result.status === 'done').length} done, ${sorted.filter((r) => r.result.status === 'failed').length} failed, ${redone.length} redone after a lost worker) in ${meta.seconds.toFixed(1)} s by the ${meta.executor} executor. Grid file: \`${grid.file}\`.`,
    '',
    '## Points, best first (mean over seeds)',
    '',
    `| ${[...grid.keys, 'runs', 'mean best val loss', 'min best val loss', 'mean epochs'].join(' | ')} |`,
    `|${[...grid.keys, 1, 2, 3, 4].map(() => '---').join('|')}|`,
    ...points.map((p) => `| ${[...grid.keys.map((k) => (k in p.params ? label(p.params[k]) : '')), `${p.done}/${p.runs}`, fmt(p.meanBestValLoss), fmt(p.minBestValLoss), p.meanEpochs.toFixed(1)].join(' | ')} |`),
    '',
    '## Runs',
    '',
    '| run | seed | status | attempts | best val loss | best epoch | epochs | seconds | worker |',
    '|---|---|---|---|---|---|---|---|---|',
    ...sorted.map((r) => `| ${r.job.id} | ${r.job.seed} | ${r.result.status}${r.result.error ? `: ${r.result.error.replace(/\|/g, '/').slice(0, 120)}` : ''} | ${r.result.attempt}${r.redone.length ? ' (redone)' : ''} | ${fmt(r.result.bestValLoss)} | ${r.result.bestEpoch ?? ''} | ${r.result.epochs} | ${r.result.seconds.toFixed(1)} | ${r.result.worker} |`),
    ...(redone.length ? ['', '## Redone runs', '', ...redone.map((r) => `- ${r.job.id}: ${r.redone.join('; ')}; attempt ${r.result.attempt} ${r.result.status}${r.result.resumedFrom !== null ? ` (resumed after epoch ${r.result.resumedFrom})` : ''}`)] : []),
    '',
  ].join('\n');
  const markdown = path.join(grid.output, 'summary.md');
  writeFileSync(markdown, md);

  // HParams: the experiment at the top, one session (a sub-folder) per run.
  const tb = path.join(grid.output, 'tensorboard');
  rmSync(tb, { recursive: true, force: true }); // ours, from an earlier run of this grid
  const top = new EventWriter(tb);
  const domains: Record<string, HParamValue[]> = {};
  for (const k of grid.keys) domains[k] = sorted.filter((r) => k in r.job.params).map((r) => hparam(r.job.params[k]));
  domains.seed = sorted.map((r) => r.job.seed);
  writeExperiment(top, domains, [
    { tag: 'best_val_loss', displayName: 'best validation loss' },
    { tag: 'epochs', displayName: 'epochs trained' },
    { tag: 'val_loss', displayName: 'validation loss (per epoch)' },
    { tag: 'loss', displayName: 'training loss (per epoch)' },
  ], grid.name);
  top.close();
  for (const r of sorted) {
    const w = new EventWriter(path.join(tb, r.job.id));
    const values: Record<string, HParamValue> = { seed: r.job.seed };
    for (const [k, v] of Object.entries(r.job.params)) values[k] = hparam(v);
    writeSessionStart(w, values, r.job.point);
    r.result.curve.forEach(([loss, val], epoch) => {
      w.scalar('loss', loss, epoch);
      if (val !== null) w.scalar('val_loss', val, epoch);
    });
    if (r.result.bestValLoss !== null) w.scalar('best_val_loss', r.result.bestValLoss, r.result.epochs);
    w.scalar('epochs', r.result.epochs, r.result.epochs);
    writeSessionEnd(w, r.result.status === 'done' ? 'success' : 'failure');
    w.close();
  }
  return { csv, markdown, tensorboard: tb };
}
