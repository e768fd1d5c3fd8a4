/**
 * Grid runs through NATS JetStream (`torchloop grid --nats URL`, `torchloop worker --nats URL`):
 *
 * - stream `TORCHLOOP_GRID_<name>`, subject `torchloop.grid.<name>.runs`, work-queue retention:
 *   one message per run (msgID `<name>-<index>`, so a re-published run is not queued twice);
 * - its durable pull consumer `workers` (explicit acks, `ackWait`): a worker takes one run,
 *   tells JetStream it is still working (`+WPI`) between batches, and acks once the result
 *   is published. A worker that dies stops sending those; after `ackWait` JetStream gives the
 *   run to another worker, with the next delivery count: that is the attempt number;
 * - stream `TORCHLOOP_GRIDSTATE_<name>`, subjects `torchloop.gridstate.<name>.run.<index>`:
 *   started / epoch / result messages, which the coordinator follows for progress and the
 *   summary. A worker handed a run whose result is already there acks it and moves on, so a
 *   run is never done twice; the coordinator keeps the first result of each run.
 */
import { hostname } from 'node:os';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { TorchError } from '../errors.ts';
import { connectNats } from '../nats-connect.ts';
import { serverList, type NatsOptions } from '../nats-options.ts';
import { optional } from '../optional.ts';
import { MAX_ATTEMPTS, type GridEvents, type GridExecutor } from './executor.ts';
import { executeRun, type RunResult } from './run.ts';
import { checkJob, JobRefusal } from './guard.ts';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import type { Grid, GridJob } from './spec.ts';

type State = { type: 'started'; index: number; attempt: number; worker: string } | { type: 'epoch'; index: number; epoch: number; valLoss: number | null } | { type: 'result'; index: number; result: RunResult };

function nats() {
  const transport = optional<typeof import('@nats-io/transport-node')>('@nats-io/transport-node', 'Grids over NATS');
  const js = optional<typeof import('@nats-io/jetstream')>('@nats-io/jetstream', 'Grids over NATS (JetStream)');
  return { nanos: transport.nanos, jetstream: js.jetstream, jetstreamManager: js.jetstreamManager, AckPolicy: js.AckPolicy, RetentionPolicy: js.RetentionPolicy, DeliverPolicy: js.DeliverPolicy };
}

export function gridNames(grid: string) {
  if (!/^[A-Za-z0-9_-]+$/.test(grid)) throw new TorchError('ERR_ARGUMENT', `Expected a grid name of letters, digits, - and _ but received '${grid}'`);
  return {
    stream: `TORCHLOOP_GRID_${grid}`,
    subject: `torchloop.grid.${grid}.runs`,
    states: `TORCHLOOP_GRIDSTATE_${grid}`,
    state: (index: number) => `torchloop.gridstate.${grid}.run.${index}`,
    end: `torchloop.gridstate.${grid}.end`,
    /** Run messages a worker refused that carried no valid run index. */
    refused: `torchloop.gridstate.${grid}.refused`,
  };
}

async function connectTo(o: NatsOptions): Promise<NatsConnection> {
  return connectNats(o, 'torchloop-grid');
}

const encode = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

export class NatsExecutor implements GridExecutor {
  readonly kind = 'nats';
  readonly nats: NatsOptions;
  /** How long a silent worker keeps its run before JetStream gives it to another. */
  readonly ackWaitMs: number;

  constructor(nats: string | NatsOptions, options: { ackWaitMs?: number } = {}) {
    this.nats = typeof nats === 'string' ? { servers: nats } : nats;
    this.ackWaitMs = options.ackWaitMs ?? 30_000;
  }

  async run(grid: Grid, jobs: GridJob[], events: GridEvents): Promise<void> {
    const { jetstream, jetstreamManager, AckPolicy, RetentionPolicy, nanos } = nats();
    const n = gridNames(grid.name);
    const nc = await connectTo(this.nats);
    try {
      const jsm = await jetstreamManager(nc);
      // A grid run starts afresh: the queue and the states of an earlier run of this grid go.
      for (const s of [n.stream, n.states]) await jsm.streams.delete(s).catch(() => undefined);
      await jsm.streams.add({ name: n.states, subjects: [`torchloop.gridstate.${grid.name}.>`], retention: RetentionPolicy.Limits });
      await jsm.streams.add({ name: n.stream, subjects: [n.subject], retention: RetentionPolicy.Workqueue, duplicate_window: nanos(10 * 60_000) });
      await jsm.consumers.add(n.stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit, ack_wait: nanos(this.ackWaitMs), max_deliver: -1, max_ack_pending: -1 });
      const js = jetstream(nc);
      const byIndex = new Map(jobs.map((j) => [j.index, j]));
      const attempts = new Map<number, number>();
      const done = new Set<number>();
      const states = await js.consumers.get(n.states, { filter_subjects: `torchloop.gridstate.${grid.name}.run.>` });
      const messages = await states.consume();
      for (const job of jobs) await js.publish(n.subject, encode(job), { msgID: `${grid.name}-${job.index}` });
      if (jobs.length === 0) return;
      for await (const m of messages) {
        const s = m.json<State>();
        const job = byIndex.get(s.index);
        if (!job || done.has(s.index)) continue; // a late message of a finished run
        if (s.type === 'started') {
          const before = attempts.get(s.index) ?? 0;
          // A later delivery means the earlier attempt's worker went silent (JetStream redelivers after ackWait).
          if (s.attempt > 1 && s.attempt > before) events.requeued({ ...job, attempt: s.attempt }, `attempt ${s.attempt - 1} went silent (no heartbeat within ${this.ackWaitMs / 1000} s: its worker was lost)`);
          attempts.set(s.index, s.attempt);
          events.started({ ...job, attempt: s.attempt }, s.worker);
        } else if (s.type === 'epoch') {
          events.epoch(job, s.epoch, s.valLoss);
        } else {
          done.add(s.index);
          events.finished({ ...s.result, id: job.id }); // a refusal knows only the index
          if (done.size === jobs.length) break;
        }
      }
      // The end marker tells workers to leave. The (now empty) work queue stays until this grid
      // runs again: deleting it here would fail a worker's last ack still in flight.
      await js.publish(n.end, encode({ finished: true }));
    } finally {
      await nc.drain().catch(() => undefined);
    }
  }
}

export interface NatsWorkerOptions {
  nats: NatsOptions;
  grid: string;
  /** Where run folders go on this machine (default: the grid's output when it is inside baseDir, else <baseDir>/runs/<grid>). */
  gridOutput?: string;
  /** The folder every file a run opens must be inside (guard.ts). */
  baseDir: string;
  /** Environment modules runs may import besides the built-ins (absolute paths). */
  allowModules?: string[];
  /** How long to wait for the grid to be queued before giving up (default 60 s). */
  waitMs?: number;
  log?: (line: string) => void;
}

/**
 * A worker (`torchloop worker --nats URL --grid NAME`): takes runs from the grid's queue one at
 * a time until the grid has ended. SIGINT/SIGTERM hand the run held back at once (nak).
 * Resolves to the number of runs it finished.
 */
export async function serveNats(o: NatsWorkerOptions): Promise<number> {
  const { jetstream, jetstreamManager } = nats();
  const n = gridNames(o.grid);
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const worker = `${hostname()}:${process.pid}`;
  const nc = await connectTo(o.nats);
  let finishedRuns = 0;
  let refused = 0;
  let held: { nak(): void } | null = null;
  const stop = () => {
    held?.nak();
    void nc.flush().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    const deadline = Date.now() + (o.waitMs ?? 60_000);
    let consumer;
    for (;;) {
      consumer = await js.consumers.get(n.stream, 'workers').catch(() => null);
      if (consumer) break;
      if (Date.now() > deadline) throw new TorchError('ERR_NOT_FOUND', `No grid '${o.grid}' is queued on ${serverList(o.nats)} (stream ${n.stream}): start \`torchloop grid ... --nats\` first`);
      await sleep(500);
    }
    const ackWaitMs = Number((await consumer.info(true)).config.ack_wait) / 1e6;
    const ended = async () => (await jsm.streams.getMessage(n.states, { last_by_subj: n.end }).catch(() => null)) !== null || (await jsm.streams.info(n.stream).then(() => false, () => true));
    log(`worker ${worker}: serving grid '${o.grid}'`);
    for (;;) {
      const m = await consumer.next({ expires: 2000 }).catch(() => null);
      if (!m) {
        if (await ended()) break;
        continue;
      }
      let checked;
      try {
        checked = checkJob(m.data, { grid: o.grid, root: o.baseDir, allowModules: o.allowModules ?? [] });
      } catch (e) {
        // Refused: the reason is the run's failed result (or, without a valid index, a refusal
        // on the grid's state stream); the message is terminated, never redelivered.
        const reason = e instanceof JobRefusal ? e.message : `the run message could not be checked: ${(e as Error).message}`;
        const index = e instanceof JobRefusal ? e.index : null;
        log(`worker ${worker}: refused a run message${index !== null ? ` (run ${index})` : ''}: ${reason}`);
        const failed: RunResult = { id: index !== null ? `run-${index}` : 'unknown', status: 'failed', attempt: m.info.deliveryCount, bestValLoss: null, bestEpoch: null, epochs: 0, stoppedEarly: false, resumedFrom: null, seconds: 0, worker, output: '', curve: [], error: `refused: ${reason}` };
        await js.publish(index !== null ? n.state(index) : n.refused, encode(index !== null ? ({ type: 'result', index, result: failed } satisfies State) : { reason, worker })).catch(() => undefined);
        m.term();
        refused++;
        continue;
      }
      const job = { ...checked.job, attempt: m.info.deliveryCount };
      const previous = await jsm.streams.getMessage(n.states, { last_by_subj: n.state(job.index) }).catch(() => null);
      if (previous?.json<State>().type === 'result') {
        log(`worker ${worker}: ${job.id} already has a result; acknowledging the redelivery`);
        await m.ackAck().catch(() => undefined);
        continue;
      }
      if (job.attempt > MAX_ATTEMPTS) {
        const failed: RunResult = { id: job.id, status: 'failed', attempt: job.attempt - 1, bestValLoss: null, bestEpoch: null, epochs: 0, stoppedEarly: false, resumedFrom: null, seconds: 0, worker, output: '', curve: [], error: `its workers were lost ${MAX_ATTEMPTS} times; gave up` };
        await js.publish(n.state(job.index), encode({ type: 'result', index: job.index, result: failed } satisfies State));
        await m.ackAck().catch(() => undefined);
        continue;
      }
      held = m;
      await js.publish(n.state(job.index), encode({ type: 'started', index: job.index, attempt: job.attempt, worker } satisfies State));
      log(`worker ${worker}: ${job.id} attempt ${job.attempt} started`);
      // Between batches (training runs on this thread): tell JetStream the run is alive, and let the socket flush.
      let lastBeat = Date.now();
      const root = realpathSync(o.baseDir);
      const inRoot = path.isAbsolute(job.gridOutput) && !path.relative(root, path.resolve(job.gridOutput)).startsWith('..');
      const result = await executeRun(job, {
        gridOutput: o.gridOutput ?? (inRoot ? job.gridOutput : path.join(root, 'runs', o.grid)),
        baseDir: checked.baseDir,
        worker,
        onAlive: async () => {
          if (Date.now() - lastBeat > ackWaitMs / 4) {
            m.working();
            lastBeat = Date.now();
          }
          await yieldToLoop();
        },
        onEpoch: (epoch, valLoss) => void js.publish(n.state(job.index), encode({ type: 'epoch', index: job.index, epoch, valLoss } satisfies State)).catch(() => undefined),
      });
      // The result first, then the ack: dying in between leaves a redelivery that finds the result.
      await js.publish(n.state(job.index), encode({ type: 'result', index: job.index, result } satisfies State));
      // The result is published: an ack that fails now (the server went away, or the grid ended
      // meanwhile) costs at most a redelivery, which the result above makes a no-op.
      await m.ackAck().catch((e: Error) => log(`worker ${worker}: ${job.id}: ack failed (${e.message}); a redelivery will find its result`));
      held = null;
      finishedRuns++;
      log(`worker ${worker}: ${job.id} ${result.status}${result.error ? ` (${result.error})` : ''}`);
    }
    log(`worker ${worker}: grid '${o.grid}' has ended (${finishedRuns} run(s) here${refused ? `, ${refused} message(s) refused` : ''})`);
    return finishedRuns;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await nc.drain().catch(() => undefined);
  }
}
