import type { NatsConnection } from '@nats-io/transport-node';
import type { JetStreamClient } from '@nats-io/jetstream';
import { TorchError } from '../errors.ts';
import { optional } from '../optional.ts';
import type { DatabaseManager, Mode } from './database.ts';
import { EnvironmentManager, type EnvironmentManagerOptions } from './environment-manager.ts';
import { ARRAY_FOR, type Field, type FieldValues } from './fields.ts';

/**
 * Environments on other machines, over NATS JetStream (an existing messaging engine: no
 * home-made protocol). A client runs an Environment and publishes each batch to the stream
 * `TORCHLOOP_<dataset>` on subject `torchloop.<dataset>.samples`: the payload is the fields'
 * raw bytes one after another, the headers say the layout (`tl-fields`, `tl-count`) and who
 * made it (`tl-client`, `tl-batch`). JetStream keeps batches until the sink acknowledges
 * them; the sink commits each batch and its key in one transaction before acking, so a
 * redelivery after a crash is recognised and never stored twice.
 */
export interface RemoteOptions {
  /** NATS server(s), e.g. "127.0.0.1:4222". */
  servers: string | string[];
  /** Dataset name: letters, digits, - and _. */
  dataset: string;
}

// The NATS client is an optional dependency, loaded on first use.
function nats() {
  const transport = optional<typeof import('@nats-io/transport-node')>('@nats-io/transport-node', 'Remote environments (NATS)');
  const js = optional<typeof import('@nats-io/jetstream')>('@nats-io/jetstream', 'Remote environments (NATS JetStream)');
  return { connect: transport.connect, natsHeaders: transport.headers, jetstream: js.jetstream, jetstreamManager: js.jetstreamManager, AckPolicy: js.AckPolicy };
}

function names(dataset: string) {
  if (!/^[A-Za-z0-9_-]+$/.test(dataset)) throw new TorchError('ERR_ARGUMENT', `Expected a dataset name of letters, digits, - and _ but received '${dataset}'`);
  return { stream: `TORCHLOOP_${dataset}`, subject: `torchloop.${dataset}.samples` };
}

async function ensureStream(nc: NatsConnection, dataset: string): Promise<void> {
  const { stream, subject } = names(dataset);
  const jsm = await nats().jetstreamManager(nc);
  try {
    await jsm.streams.info(stream);
  } catch {
    try {
      await jsm.streams.add({ name: stream, subjects: [subject], duplicate_window: 120_000_000_000 });
    } catch (e) {
      // Another client created it meanwhile.
      await jsm.streams.info(stream).catch(() => {
        throw e;
      });
    }
  }
}

async function connectTo(options: RemoteOptions): Promise<NatsConnection> {
  const { connect } = nats();
  try {
    return await connect({ servers: options.servers, name: 'torchloop' });
  } catch (e) {
    throw new TorchError('ERR_RUNTIME', `Cannot reach the NATS server at ${options.servers}: ${(e as Error).message}`);
  }
}

export function encodeBatch(fields: Field[], values: FieldValues): Uint8Array {
  const total = fields.reduce((a, f) => a + values[f.name].byteLength, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const f of fields) {
    const a = values[f.name];
    out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
    at += a.byteLength;
  }
  return out;
}

export function decodeBatch(fields: Field[], count: number, data: Uint8Array): FieldValues {
  const values: FieldValues = {};
  let at = 0;
  for (const f of fields) {
    const Ctor = ARRAY_FOR[f.dtype];
    const bytes = Ctor.BYTES_PER_ELEMENT * f.size * count;
    if (at + bytes > data.byteLength) throw new TorchError('ERR_SHAPE', `A remote batch is shorter than its header says (field '${f.name}')`);
    const a = new Ctor(f.size * count);
    new Uint8Array(a.buffer).set(data.subarray(at, at + bytes));
    values[f.name] = a;
    at += bytes;
  }
  return values;
}

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

  /** Produces and publishes `batches` batches; resolves when JetStream has stored them all. */
  async run(batches: number): Promise<{ published: number; samples: number }> {
    const o = this.options;
    const { subject } = names(o.dataset);
    const nc = await connectTo(o);
    const envs = new EnvironmentManager(o);
    try {
      await ensureStream(nc, o.dataset);
      const { jetstream, natsHeaders } = nats();
      const js: JetStreamClient = jetstream(nc);
      await envs.start();
      const fields = JSON.stringify(envs.fields.map(({ name, dtype, shape, kind }) => ({ name, dtype, shape, kind })));
      for (let b = 0; b < batches; b++) {
        const batch = await envs.getBatch(o.batchSize);
        const h = natsHeaders();
        h.set('tl-fields', fields);
        h.set('tl-count', String(batch.size));
        h.set('tl-client', o.clientId);
        h.set('tl-batch', String(b));
        await js.publish(subject, encodeBatch(envs.fields, batch.values), { headers: h, msgID: `${o.clientId}/${b}` });
      }
      return { published: batches, samples: batches * o.batchSize };
    } finally {
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

/** Receives remote clients' batches and commits them to a database, exactly once per batch. */
export class RemoteSampleSink {
  readonly options: RemoteSinkOptions;
  received = 0;
  duplicates = 0;

  constructor(options: RemoteSinkOptions) {
    this.options = options;
  }

  /** Consumes until `samples` samples are committed or `timeoutMs` passes; returns the samples committed by this call. */
  async receive(until: { samples: number; timeoutMs: number }): Promise<number> {
    const o = this.options;
    const { stream } = names(o.dataset);
    const nc = await connectTo(o);
    const start = this.received;
    try {
      await ensureStream(nc, o.dataset);
      const { jetstream, jetstreamManager, AckPolicy } = nats();
      const jsm = await jetstreamManager(nc);
      const durable = o.consumer ?? 'sink';
      await jsm.consumers.info(stream, durable).catch(() => jsm.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit }));
      const consumer = await jetstream(nc).consumers.get(stream, durable);
      const deadline = Date.now() + until.timeoutMs;
      while (this.received - start < until.samples && Date.now() < deadline) {
        const msg = await consumer.next({ expires: Math.max(1000, Math.min(5000, deadline - Date.now())) });
        if (!msg) continue;
        const h = msg.headers;
        const count = Number(h?.get('tl-count'));
        const key = `${h?.get('tl-client')}/${h?.get('tl-batch')}`;
        const fields = JSON.parse(h?.get('tl-fields') ?? '[]') as Field[];
        const mine = o.database.fields;
        if (fields.length !== mine.length || fields.some((f, i) => f.name !== mine[i].name || f.dtype !== mine[i].dtype || f.shape.join() !== mine[i].shape.join())) {
          msg.term(); // a batch for another schema can never be stored here
          throw new TorchError('ERR_SHAPE', `Remote batch ${key} has fields ${JSON.stringify(fields.map((f) => f.name))}, not this dataset's`);
        }
        const values = decodeBatch(mine, count, msg.data);
        const ids = o.database.add(o.mode ?? 'training', values, count, { batchKey: key });
        if (ids.length === 0) this.duplicates++;
        else this.received += count;
        msg.ack();
      }
      return this.received - start;
    } finally {
      await nc.drain();
    }
  }
}
