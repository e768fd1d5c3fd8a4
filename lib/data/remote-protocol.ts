/**
 * The remote-environment protocol, version 1 (docs/PROTOCOL.md is its text): how a batch of
 * samples travels from an environment client to a sink over NATS JetStream, and how a sink
 * checks one before it stores it. Both the TypeScript client (remote.ts) and the Python one
 * (python/torchloop_env) follow it; nothing here touches the network.
 */
import { TorchError } from '../errors.ts';
import { ARRAY_FOR, type Field, type FieldValues } from './fields.ts';

export const PROTOCOL_VERSION = '1';
/** The largest batch payload a sink accepts (NATS's own default max_payload is 1 MiB). */
export const MAX_BATCH_SAMPLES = 1_000_000;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

export function subjects(dataset: string): { stream: string; samples: string; errors: (client: string) => string } {
  if (!/^[A-Za-z0-9_-]+$/.test(dataset)) throw new TorchError('ERR_ARGUMENT', `Expected a dataset name of letters, digits, - and _ but received '${dataset}'`);
  return { stream: `TORCHLOOP_${dataset}`, samples: `torchloop.${dataset}.samples`, errors: (client) => `torchloop.${dataset}.errors.${ID.test(client) ? client : '_unknown'}` };
}

export function checkClientId(id: string): void {
  if (!ID.test(id)) throw new TorchError('ERR_ARGUMENT', `Expected a client id of 1 to 64 letters, digits, - and _ but received '${id}'`);
}

/** The headers a client sends with a batch. */
export function batchHeaders(fields: Field[], count: number, client: string, batch: number): Record<string, string> {
  return {
    'tl-version': PROTOCOL_VERSION,
    'tl-fields': JSON.stringify(fields.map(({ name, dtype, shape, kind }) => ({ name, dtype, shape, kind }))),
    'tl-count': String(count),
    'tl-client': client,
    'tl-batch': String(batch),
  };
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

/** Why a sink refuses a batch: what the client is told, and what the sink counts. */
export class BatchRejection extends Error {
  readonly field: string | null;
  constructor(reason: string, field: string | null = null) {
    super(reason);
    this.field = field;
  }
}

export interface CheckedBatch {
  client: string;
  batch: number;
  key: string;
  count: number;
  values: FieldValues;
}

/**
 * Checks a received batch against the database's fields and decodes it: the protocol
 * version, the client and batch ids, the field list (names, dtypes, shapes), the payload's
 * length, and that every float is finite. Throws BatchRejection naming what is wrong.
 */
export function checkBatch(fields: Field[], header: (name: string) => string | undefined, data: Uint8Array): CheckedBatch {
  const version = header('tl-version');
  if (version !== PROTOCOL_VERSION) throw new BatchRejection(version === undefined ? 'no tl-version header: not a torchloop batch' : `protocol version '${version.slice(0, 20)}' is not supported (this sink speaks ${PROTOCOL_VERSION})`);
  const client = header('tl-client') ?? '';
  if (!ID.test(client)) throw new BatchRejection(`tl-client '${client.slice(0, 80)}' is not 1 to 64 letters, digits, - and _`);
  const batchText = header('tl-batch') ?? '';
  if (!/^\d{1,15}$/.test(batchText)) throw new BatchRejection(`tl-batch '${batchText.slice(0, 40)}' is not a non-negative integer`);
  const countText = header('tl-count') ?? '';
  const count = /^\d{1,9}$/.test(countText) ? Number(countText) : NaN;
  if (!(count >= 1 && count <= MAX_BATCH_SAMPLES)) throw new BatchRejection(`tl-count '${countText.slice(0, 40)}' is not a sample count in 1..${MAX_BATCH_SAMPLES}`);
  let theirs: unknown;
  try {
    theirs = JSON.parse(header('tl-fields') ?? '');
  } catch {
    throw new BatchRejection('tl-fields is not JSON');
  }
  if (!Array.isArray(theirs)) throw new BatchRejection('tl-fields is not a list of fields');
  const byName = new Map<string, { dtype?: unknown; shape?: unknown }>();
  for (const f of theirs as { name?: unknown }[]) if (f && typeof f.name === 'string') byName.set(f.name, f as { dtype?: unknown; shape?: unknown });
  for (const f of fields) {
    const t = byName.get(f.name);
    if (!t) throw new BatchRejection(`the batch has no field '${f.name}'`, f.name);
    if (t.dtype !== f.dtype) throw new BatchRejection(`field '${f.name}' is ${JSON.stringify(t.dtype)} in the batch, ${f.dtype} here`, f.name);
    if (!Array.isArray(t.shape) || t.shape.join(',') !== f.shape.join(',')) throw new BatchRejection(`field '${f.name}' has shape ${JSON.stringify(t.shape)} in the batch, [${f.shape.join(', ')}] here`, f.name);
  }
  const extra = [...byName.keys()].find((n) => !fields.some((f) => f.name === n));
  if (extra !== undefined || byName.size !== theirs.length) throw new BatchRejection(extra !== undefined ? `the batch has a field '${extra.slice(0, 64)}' this dataset does not` : 'tl-fields names a field twice or lists a field without a name', extra ?? null);
  const order = (theirs as { name: string }[]).map((f) => f.name);
  if (order.some((n, i) => n !== fields[i].name)) throw new BatchRejection(`the batch's fields come in the order ${order.join(', ')}, not ${fields.map((f) => f.name).join(', ')}`);
  const expected = fields.reduce((a, f) => a + ARRAY_FOR[f.dtype].BYTES_PER_ELEMENT * f.size * count, 0);
  if (data.byteLength !== expected) {
    let at = 0, short = fields[fields.length - 1].name;
    for (const f of fields) {
      at += ARRAY_FOR[f.dtype].BYTES_PER_ELEMENT * f.size * count;
      if (at > data.byteLength) {
        short = f.name;
        break;
      }
    }
    throw new BatchRejection(data.byteLength < expected ? `the payload is ${data.byteLength} bytes, ${expected} for ${count} samples: field '${short}' is cut short` : `the payload is ${data.byteLength} bytes, ${expected} for ${count} samples: ${data.byteLength - expected} bytes too many`, data.byteLength < expected ? short : null);
  }
  const values: FieldValues = {};
  let at = 0;
  for (const f of fields) {
    const Ctor = ARRAY_FOR[f.dtype];
    const bytes = Ctor.BYTES_PER_ELEMENT * f.size * count;
    const a = new Ctor(f.size * count);
    new Uint8Array(a.buffer).set(data.subarray(at, at + bytes));
    at += bytes;
    if (f.dtype === 'float32' || f.dtype === 'float64') {
      const x = a as Float32Array;
      for (let i = 0; i < x.length; i++) {
        if (!Number.isFinite(x[i])) throw new BatchRejection(`field '${f.name}' of sample ${Math.floor(i / f.size)} has ${x[i]} at index ${i % f.size}: samples must be finite`, f.name);
      }
    }
    values[f.name] = a;
  }
  const batch = Number(batchText);
  return { client, batch, key: `${client}/${batch}`, count, values };
}
