import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import { TorchError } from '../errors.ts';
import { optional } from '../optional.ts';
import type { DatabaseManager, Mode } from './database.ts';
import { EnvironmentManager, type EnvironmentManagerOptions } from './environment-manager.ts';
import { connectNats, permissionError } from '../nats-connect.ts';
import type { NatsOptions } from '../nats-options.ts';
import { BatchRejection, batchHeaders, checkBatch, checkClientId, encodeBatch, subjects } from './remote-protocol.ts';

/**
 * Environments on other machines, over NATS JetStream (an existing messaging engine: no
 * home-made protocol). A client runs an Environment and publishes each batch to the stream
 * `TORCHLOOP_<dataset>` on subject `torchloop.<dataset>.samples`: the payload is the fields'
 * raw bytes one after another, the headers say the version, the layout (`tl-fields`,
 * `tl-count`) and who made it (`tl-client`, `tl-batch`). JetStream keeps batches until the
 * sink acknowledges them; the sink commits each batch and its key in one transaction before
 * acking, so a redelivery after a crash is recognised and never stored twice. A batch the
 * sink refuses is counted, never stored, and its client is told why on
 * `torchloop.<dataset>.errors.<client>`. docs/PROTOCOL.md is the protocol's text; the Python
 * client (python/torchloop_env) speaks it too.
 */
export interface RemoteOptions extends NatsOptions {
  /** Dataset name: letters, digits, - and _. */
  dataset: string;
}

// The NATS client is an optional dependency, loaded on first use.
function nats() {
  const transport = optional<typeof import('@nats-io/transport-node')>('@nats-io/transport-node', 'Remote environments (NATS)');
  const js = optional<typeof import('@nats-io/jetstream')>('@nats-io/jetstream', 'Remote environments (NATS JetStream)');
  return { natsHeaders: transport.headers, jetstream: js.jetstream, jetstreamManager: js.jetstreamManager, AckPolicy: js.AckPolicy };
}

async function ensureStream(nc: NatsConnection, dataset: string): Promise<void> {
  const { stream, samples } = subjects(dataset);
  const jsm = await nats().jetstreamManager(nc);
  try {
    await jsm.streams.info(stream);
  } catch {
    try {
      await jsm.streams.add({ name: stream, subjects: [samples], duplicate_window: 120_000_000_000 });
    } catch (e) {
      // Another client created it meanwhile.
      await jsm.streams.info(stream).catch(() => {
        throw e;
      });
    }
  }
}

async function connectTo(options: RemoteOptions): Promise<NatsConnection> {
  return connectNats(options, 'torchloop');
}

export { encodeBatch };

export interface RemoteClientOptions extends RemoteOptions, Omit<EnvironmentManagerOptions, 'predictor'> {
  /** Identifies this client's batches (with the batch number: the dedup key). */
  clientId: string;
  batchSize: number;
}

/**
 * Runs environments here and streams their batches to JetStream.
 *
 * @example
 * const client = new RemoteEnvironmentClient({ servers: 'gpu-box:4222', dataset: 'chain', clientId: 'sim-7',
 *   environment: { module, exportName: 'SpringChainEnvironment' }, seed: 7, batchSize: 256 });
 * await client.run(100);
 */
export class RemoteEnvironmentClient {
  readonly options: RemoteClientOptions;
  constructor(options: RemoteClientOptions) {
    this.options = options;
  }

  /** What sinks refused of this client's batches (their error replies), as they arrive. */
  readonly rejections: { key: string; field: string | null; reason: string }[] = [];

  /** Produces and publishes `batches` batches; resolves when JetStream has stored them all. */
  async run(batches: number): Promise<{ published: number; samples: number }> {
    const o = this.options;
    checkClientId(o.clientId);
    const { samples: subject, errors } = subjects(o.dataset);
    const nc = await connectTo(o);
    const envs = new EnvironmentManager(o);
    const replies = nc.subscribe(errors(o.clientId), {
      callback: (err, m) => {
        if (err) return;
        try {
          const r = JSON.parse(new TextDecoder().decode(m.data)) as { key: string; field: string | null; reason: string };
          this.rejections.push(r);
          process.emitWarning(`a sink refused batch ${r.key}: ${r.reason}`, { code: 'TORCHLOOP_BATCH_REFUSED' });
        } catch {
          // not a sink's reply
        }
      },
    });
    try {
      // A client with least privilege may not look up or create streams: the sink makes it.
      await ensureStream(nc, o.dataset).catch(() => undefined);
      const { jetstream, natsHeaders } = nats();
      const js: JetStreamClient = jetstream(nc);
      await envs.start();
      for (let b = 0; b < batches; b++) {
        const batch = await envs.getBatch(o.batchSize);
        const h = natsHeaders();
        for (const [k, v] of Object.entries(batchHeaders(envs.fields, batch.size, o.clientId, b))) h.set(k, v);
        await js.publish(subject, encodeBatch(envs.fields, batch.values), { headers: h, msgID: `${o.clientId}/${b}` }).catch((e: Error) => {
          throw new TorchError('ERR_RUNTIME', `Publishing batch ${b} to ${subject} failed (${e.message}): is the stream TORCHLOOP_${o.dataset} there (a sink makes it), and may this client publish to ${subject}?`);
        });
      }
      return { published: batches, samples: batches * o.batchSize };
    } finally {
      replies.unsubscribe();
      await envs.close();
      await nc.drain();
    }
  }
}

export interface RemoteSinkOptions extends RemoteOptions {
  database: DatabaseManager;
  mode?: Mode;
  /** Durable consumer name: several sinks with one name share the work (default "sink"). */
  consumer?: string;
}

/** A batch the sink refused. */
export interface RemoteRejection {
  key: string;
  samples: number;
  field: string | null;
  reason: string;
}

/**
 * Receives remote clients' batches and commits them to a database, exactly once per batch.
 * A batch that breaks the protocol or does not fit the database (another version, garbage
 * headers, other fields or sizes, a NaN) is refused: counted in `rejected`, never stored,
 * never redelivered, and its client told why. The sink goes on.
 */
export class RemoteSampleSink {
  readonly options: RemoteSinkOptions;
  received = 0;
  duplicates = 0;
  /** Refused batches, and the last 100 of them with their reasons. */
  rejected = 0;
  rejections: RemoteRejection[] = [];

  constructor(options: RemoteSinkOptions) {
    this.options = options;
  }

  /**
   * Consumes until `samples` samples are committed or `timeoutMs` passes; returns the samples
   * committed by this call. `onReady` is called once the stream and this sink's consumer exist:
   * from then on, a client that may only publish samples can publish.
   */
  async receive(until: { samples: number; timeoutMs: number; onReady?: () => void }): Promise<number> {
    const o = this.options;
    const { stream, errors } = subjects(o.dataset);
    const nc = await connectTo(o);
    const start = this.received;
    try {
      const { jetstream, jetstreamManager, AckPolicy } = nats();
      const durable = o.consumer ?? 'sink';
      let consumer;
      try {
        await ensureStream(nc, o.dataset);
        const jsm = await jetstreamManager(nc);
        await jsm.consumers.info(stream, durable).catch(() => jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit }));
        consumer = await jetstream(nc).consumers.get(stream, durable);
      } catch (e) {
        throw permissionError(e, o, `consume the stream ${stream}`);
      }
      until.onReady?.();
      const deadline = Date.now() + until.timeoutMs;
      while (this.received - start < until.samples && Date.now() < deadline) {
        const msg = await consumer.next({ expires: Math.max(1000, Math.min(5000, deadline - Date.now())) });
        if (!msg) continue;
        let checked;
        try {
          checked = checkBatch(o.database.fields, (name) => msg.headers?.get(name) || undefined, msg.data);
        } catch (e) {
          if (!(e instanceof BatchRejection)) throw e;
          msg.term(); // never redelivered: it cannot become valid
          const client = msg.headers?.get('tl-client') ?? '';
          const key = `${client.slice(0, 64) || '?'}/${(msg.headers?.get('tl-batch') ?? '?').slice(0, 20)}`;
          const samples = Number(msg.headers?.get('tl-count')) || 0;
          this.rejected++;
          this.rejections.push({ key, samples, field: e.field, reason: e.message });
          if (this.rejections.length > 100) this.rejections.shift();
          nc.publish(errors(client), JSON.stringify({ version: 1, key, field: e.field, reason: e.message }));
          continue;
        }
        const ids = o.database.add(o.mode ?? 'training', checked.values, checked.count, { batchKey: checked.key });
        if (ids.length === 0) this.duplicates++;
        else this.received += checked.count;
        msg.ack();
      }
      return this.received - start;
    } finally {
      await nc.drain();
    }
  }
}
