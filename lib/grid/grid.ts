/**
 * `torchloop grid grid.yaml --workers N | --nats URL`: loads the grid, prepares each database
 * its runs share (once, before any run starts), hands the runs to an executor, shows progress
 * (pending, running, done, redone, with a bar) and writes the summary.
 */
import path from 'node:path';
import { validateExperiment, resolvePath } from '../learn/config.ts';
import { prepareData, withLock } from '../learn/data-parallel.ts';
import type { GridExecutor } from './executor.ts';
import { LocalExecutor } from './local.ts';
import { NatsExecutor } from './nats.ts';
import { describeAuth, resolveNats, serverList, type NatsOptions } from '../nats-options.ts';
import type { RunResult } from './run.ts';
import { loadGrid, type Grid, type GridJob } from './spec.ts';
import { pointSummaries, writeSummary, type PointSummary, type RunRecord } from './summary.ts';

export interface GridOptions {
  /** Local worker processes (default 1). */
  workers?: number;
  /**
   * Runs go on a NATS JetStream work queue for `torchloop worker --nats` processes: the server
   * (or true: the grid file's `nats.servers`, or NATS_URL), with auth and TLS from `natsFlags`,
   * the grid file's `nats` section and the NATS_* environment.
   */
  nats?: string | true;
  natsFlags?: Partial<NatsOptions>;
  /** NATS: how long a silent worker keeps its run (default 30 s). */
  ackWaitMs?: number;
  progress?: boolean;
  /** Every state change, as a line (the CLI prints them when stderr is not a terminal). */
  onLine?: (line: string) => void;
}

export interface GridReport {
  name: string;
  output: string;
  runs: RunRecord[];
  points: PointSummary[];
  redone: string[];
  seconds: number;
  runsPerMinute: number;
  files: { csv: string; markdown: string; tensorboard: string };
}

class GridProgress {
  readonly pending = new Set<string>();
  readonly running = new Map<string, string>();
  done = 0;
  failed = 0;
  redone = 0;
  #t0 = performance.now();
  #tty = process.stderr.isTTY;
  constructor(jobs: GridJob[], private enabled: boolean, private onLine?: (line: string) => void) {
    for (const j of jobs) this.pending.add(j.id);
  }
  line(text: string): void {
    this.onLine?.(text);
    if (!this.enabled) return;
    if (this.#tty) process.stderr.write(`\r\x1b[K${text}\n`);
    else process.stderr.write(`${text}\n`);
    this.draw();
  }
  draw(): void {
    if (!this.enabled || !this.#tty) return;
    const total = this.pending.size + this.running.size + this.done + this.failed;
    const width = 30, full = Math.round(((this.done + this.failed) / Math.max(1, total)) * width);
    process.stderr.write(`\r\x1b[Kgrid [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${this.done + this.failed}/${total} done · ${this.running.size} running · ${this.pending.size} pending${this.redone ? ` · ${this.redone} redone` : ''}${this.failed ? ` · ${this.failed} failed` : ''} ${((performance.now() - this.#t0) / 1000).toFixed(0)} s`);
  }
  counts(): string {
    return `${this.done + this.failed} done, ${this.running.size} running, ${this.pending.size} pending${this.redone ? `, ${this.redone} redone` : ''}`;
  }
}

export async function runGrid(file: string, o: GridOptions = {}): Promise<GridReport> {
  const grid: Grid = loadGrid(file);
  const progress = new GridProgress(grid.jobs, o.progress ?? true, o.onLine);
  // The databases runs share are filled once, here, before workers race for them.
  const prepared = new Set<string>();
  for (const job of grid.jobs) {
    const exp = validateExperiment({ ...job.document, output: path.join(grid.output, job.folder) }, job.baseDir);
    const db = resolvePath(exp, exp.database.file);
    if (prepared.has(db)) continue;
    prepared.add(db);
    const added = await withLock(`${db}.torchloop-lock`, () => prepareData(exp));
    if (added.training + added.validation > 0) progress.line(`data: ${added.training} training and ${added.validation} validation samples into ${db}`);
  }
  const nats = o.nats ? resolveNats({ servers: typeof o.nats === 'string' ? o.nats : undefined, flags: o.natsFlags, config: grid.nats }) : null;
  const executor: GridExecutor = nats ? new NatsExecutor(nats, { ackWaitMs: o.ackWaitMs }) : new LocalExecutor(o.workers ?? 1);
  const byId = new Map(grid.jobs.map((j) => [j.id, j]));
  const records = new Map<string, RunRecord>();
  const redone = new Map<string, string[]>();
  const t0 = performance.now();
  progress.line(`grid ${grid.name}: ${grid.jobs.length} runs, ${nats ? `NATS work queue at ${serverList(nats)} (${describeAuth(nats)}); workers: torchloop worker --nats ${serverList(nats)} --grid ${grid.name}` : `${o.workers ?? 1} local worker(s)`}`);
  await executor.run(grid, grid.jobs, {
    started(job, worker) {
      progress.pending.delete(job.id);
      progress.running.set(job.id, worker);
      progress.line(`run ${job.id}: started on ${worker} (attempt ${job.attempt}) [${progress.counts()}]`);
    },
    epoch(job, epoch, valLoss) {
      if (process.stderr.isTTY) progress.draw();
      o.onLine?.(`run ${job.id}: epoch ${epoch + 1}${valLoss !== null ? `, val ${valLoss.toExponential(3)}` : ''}`);
    },
    finished(result: RunResult) {
      const job = byId.get(result.id)!;
      progress.running.delete(job.id);
      progress.pending.delete(job.id);
      if (result.status === 'done') progress.done++;
      else progress.failed++;
      records.set(job.id, { job, result, redone: redone.get(job.id) ?? [] });
      progress.line(`run ${job.id}: ${result.status}${result.status === 'done' ? `, best val ${result.bestValLoss?.toExponential(3) ?? 'n/a'} in ${result.epochs} epochs` : `: ${result.error}`} (attempt ${result.attempt}, ${result.seconds.toFixed(1)} s) [${progress.counts()}]`);
    },
    requeued(job, why) {
      progress.running.delete(job.id);
      progress.pending.add(job.id);
      progress.redone++;
      redone.set(job.id, [...(redone.get(job.id) ?? []), why]);
      progress.line(`run ${job.id}: given back to the queue, ${why}; attempt ${job.attempt} follows [${progress.counts()}]`);
    },
  });
  const seconds = (performance.now() - t0) / 1000;
  const runs = [...records.values()].sort((a, b) => a.job.index - b.job.index);
  const files = writeSummary(grid, runs, { executor: executor.kind, seconds });
  if (process.stderr.isTTY && (o.progress ?? true)) process.stderr.write('\n');
  return { name: grid.name, output: grid.output, runs, points: pointSummaries(runs), redone: [...redone.keys()], seconds, runsPerMinute: (runs.length / seconds) * 60, files };
}
