/**
 * How a grid's runs reach workers. Two executors, one interface: `LocalExecutor` (worker
 * processes on this machine, over IPC) and `NatsExecutor` (a JetStream work queue that
 * `torchloop worker --nats` processes on any machine take runs from). Either way a run is
 * held by one worker at a time; a worker that dies gives its run back, and the run comes
 * again with the next attempt number.
 */
import type { RunResult } from './run.ts';
import type { Grid, GridJob } from './spec.ts';

export interface GridEvents {
  started(job: GridJob, worker: string): void;
  epoch(job: GridJob, epoch: number, valLoss: number | null): void;
  finished(result: RunResult): void;
  /** A worker was lost while it held this run; the run is queued again (its next attempt). */
  requeued(job: GridJob, why: string): void;
}

export interface GridExecutor {
  readonly kind: string;
  /** Runs the jobs; resolves when each has a result (done or failed). */
  run(grid: Grid, jobs: GridJob[], events: GridEvents): Promise<void>;
}

/** Attempts before a run whose worker keeps dying is reported failed. */
export const MAX_ATTEMPTS = 3;
