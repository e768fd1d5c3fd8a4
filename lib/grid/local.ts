/**
 * Grid runs in worker processes on this machine (`torchloop grid --workers N`): each worker
 * is `torchloop worker --ipc`, a child process taking one run at a time over Node's IPC
 * channel. The coordinator holds the queue, so a run is held by exactly one worker; when a
 * worker exits while holding a run, the run goes back to the front of the queue and a fresh
 * worker takes the place of the lost one.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { packageRoot } from '../paths.ts';
import { MAX_ATTEMPTS, type GridEvents, type GridExecutor } from './executor.ts';
import { executeRun, type RunResult } from './run.ts';
import type { Grid, GridJob } from './spec.ts';

type ToWorker = { type: 'run'; job: GridJob; gridOutput: string } | { type: 'exit' };
type FromWorker = { type: 'ready' } | { type: 'epoch'; id: string; epoch: number; valLoss: number | null } | { type: 'result'; result: RunResult };

export class LocalExecutor implements GridExecutor {
  readonly kind = 'local';
  readonly workers: number;

  constructor(workers: number) {
    this.workers = workers;
  }

  run(grid: Grid, jobs: GridJob[], events: GridEvents): Promise<void> {
    const queue = [...jobs];
    let left = jobs.length;
    const held = new Map<ChildProcess, GridJob>();
    return new Promise<void>((resolve) => {
      if (left === 0) return resolve();
      const next = (child: ChildProcess) => {
        const job = queue.shift();
        if (!job) {
          child.send({ type: 'exit' } satisfies ToWorker);
          return;
        }
        held.set(child, job);
        child.send({ type: 'run', job, gridOutput: grid.output } satisfies ToWorker);
        events.started(job, `pid ${child.pid}`);
      };
      const spawnWorker = () => {
        const child = fork(path.join(packageRoot, 'bin', 'torchloop.mjs'), ['worker', '--ipc'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], execArgv: [] });
        child.on('message', (m: FromWorker) => {
          if (m.type === 'ready') next(child);
          else if (m.type === 'epoch') {
            const job = held.get(child);
            if (job) events.epoch(job, m.epoch, m.valLoss);
          } else if (m.type === 'result') {
            held.delete(child);
            events.finished(m.result);
            if (--left === 0) resolve();
            next(child);
          }
        });
        child.on('exit', (code, signal) => {
          const job = held.get(child);
          held.delete(child);
          if (!job) return;
          const why = `worker pid ${child.pid} ${signal ? `was killed by ${signal}` : `exited with code ${code}`} during attempt ${job.attempt}`;
          if (job.attempt >= MAX_ATTEMPTS) {
            events.finished({ id: job.id, status: 'failed', attempt: job.attempt, bestValLoss: null, bestEpoch: null, epochs: 0, stoppedEarly: false, resumedFrom: null, seconds: 0, worker: `pid ${child.pid}`, output: path.join(grid.output, job.folder), curve: [], error: `${why}; gave up after ${MAX_ATTEMPTS} attempts` });
            if (--left === 0) return resolve();
          } else {
            const again = { ...job, attempt: job.attempt + 1 };
            queue.unshift(again);
            events.requeued(again, why);
          }
          if (queue.length > 0) spawnWorker();
        });
      };
      for (let i = 0; i < Math.min(this.workers, jobs.length); i++) spawnWorker();
    });
  }
}

/** The worker side (`torchloop worker --ipc`): runs what the coordinator sends, one at a time. */
export function serveIpc(): void {
  const send = (m: FromWorker) => process.send!(m);
  process.on('disconnect', () => process.exit(0)); // the coordinator is gone
  process.on('message', async (m: ToWorker) => {
    if (m.type === 'exit') {
      process.disconnect();
      return;
    }
    const result = await executeRun(m.job, {
      gridOutput: m.gridOutput,
      worker: `pid ${process.pid}`,
      // Training steps run on this thread: let IPC flush between batches now and then.
      onAlive: () => yieldToLoop(),
      onEpoch: (epoch, valLoss) => send({ type: 'epoch', id: m.job.id, epoch, valLoss }),
    });
    send({ type: 'result', result });
  });
  send({ type: 'ready' });
}
