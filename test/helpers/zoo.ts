// The zoo (../shared/real-models, SOURCES.md there): the records scripts/zoo_golden.py wrote
// with the PyTorch of the libtorch under test, and entities built from them as a user would:
// an input signal per tensor (tuples element by element, dicts by key), setParameter() for
// scalar arguments, an output per floating-point result tensor.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Model, Tensor, TorchEntity, type DType, type InputSignal, type OutputSignal } from '../../lib/index.ts';
import { FIXTURES } from './fixtures.ts';

export type Encoded =
  | { tensor: { shape: number[]; dtype: string; data: (number | null)[] } }
  | { tuple: Encoded[] }
  | { dict: Record<string, Encoded> }
  | Encoded[]
  | number
  | boolean
  | string;

export interface ZooRecord {
  file: string;
  torch: string;
  method: string;
  grad: boolean;
  calls?: { args: Encoded[]; result: Encoded }[];
  error?: string;
}

const done = path.join(FIXTURES, 'zoo', '.done');
/** Where the zoo's .pt files are, or null when this machine has none (the tests then say so). */
export const ZOO_MODELS: string | null = existsSync(done) ? readFileSync(done, 'utf8').trim() : null;

export function zooRecords(): ZooRecord[] {
  if (!ZOO_MODELS) return [];
  return readdirSync(path.join(FIXTURES, 'zoo'))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(path.join(FIXTURES, 'zoo', f), 'utf8')));
}

export const zooPath = (r: ZooRecord) => path.join(ZOO_MODELS!, r.file);

const isTensor = (v: Encoded): v is { tensor: { shape: number[]; dtype: string; data: (number | null)[] } } =>
  typeof v === 'object' && v !== null && 'tensor' in v;

/** A saved value as a torchloop argument (tensors, arrays for tuples, objects for dicts). */
export function decode(v: Encoded): unknown {
  if (isTensor(v)) {
    const { shape, dtype, data } = v.tensor;
    const nums = data.map((x) => (x === null ? Number.NaN : x));
    const arr = dtype === 'int64' ? BigInt64Array.from(nums.map((x) => BigInt(x))) : dtype === 'float64' ? Float64Array.from(nums) : Float32Array.from(nums);
    return new Tensor(arr, shape, dtype as DType);
  }
  if (Array.isArray(v)) return v.map(decode);
  if (typeof v === 'object' && v !== null && 'tuple' in v) return v.tuple.map(decode);
  if (typeof v === 'object' && v !== null && 'dict' in v) return Object.fromEntries(Object.entries(v.dict).map(([k, x]) => [k, decode(x)]));
  return v;
}

/** The tensors of a saved result with their places ("0", "1.0", "forces"), as torchloop names them. */
export function leaves(v: Encoded, prefix = ''): { name: string; tensor: { shape: number[]; dtype: string; data: (number | null)[] } }[] {
  const at = (p: string) => (prefix ? `${prefix}.${p}` : p);
  if (isTensor(v)) return [{ name: prefix || '0', tensor: v.tensor }];
  if (Array.isArray(v)) return v.flatMap((x, i) => leaves(x, at(String(i))));
  if (typeof v === 'object' && v !== null && 'tuple' in v) return v.tuple.flatMap((x, i) => leaves(x, at(String(i))));
  if (typeof v === 'object' && v !== null && 'dict' in v) return Object.entries(v.dict).flatMap(([k, x]) => leaves(x, at(k)));
  return [];
}

/** Worst |a - b| / (1 + |b|) between torchloop's values and PyTorch's. */
export function worstError(actual: ArrayLike<number>, expected: (number | null)[]): number {
  if (actual.length !== expected.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = expected[i] ?? Number.NaN;
    const d = Number.isNaN(e) && Number.isNaN(actual[i]) ? 0 : Math.abs(actual[i] - e) / (1 + Math.abs(e));
    worst = Math.max(worst, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d);
  }
  return worst;
}

export interface ZooEntity {
  entity: TorchEntity;
  inputs: InputSignal[];
  /** Output signals with the result place each takes. */
  outputs: { signal: OutputSignal; name: string }[];
  /** Writes call c's arguments into the input signals. */
  feed(c: number): void;
}

/** A TorchEntity for a zoo model, inputs as SOURCES.md describes (the record's first call). */
export function zooEntity(r: ZooRecord, model?: Model): ZooEntity {
  const entity = new TorchEntity(r.file.replace(/\W+/g, '_'));
  entity.loadModel(model ?? zooPath(r), { grad: r.grad });
  const sig = entity.model.signature(r.method);
  const calls = r.calls!;
  const inputs: InputSignal[] = [];
  // The tensors of every argument in order, with the input signal each feeds.
  const tensorsOf = (c: number) => calls[c].args.flatMap((a) => leaves(a));
  calls[0].args.forEach((arg, i) => {
    const name = sig.arguments[i].name;
    if (!isTensor(arg) && !(typeof arg === 'object' && arg !== null)) {
      entity.setParameter(name, arg as number);
      return;
    }
    const isDict = typeof arg === 'object' && arg !== null && 'dict' in arg;
    for (const leaf of leaves(arg)) {
      const dtype = leaf.tensor.dtype === 'int64' ? 'int64' : leaf.tensor.dtype === 'float64' ? 'float64' : 'float32';
      const signalName = isDict ? leaf.name : `${name}${leaf.name === '0' && isTensor(arg) ? '' : `_${leaf.name.replace(/\./g, '_')}`}`;
      inputs.push(entity.addInput(signalName, { shape: leaf.tensor.shape, dtype, ...(isDict ? { key: leaf.name } : {}) }));
    }
  });
  const outputs = leaves(calls[0].result)
    .filter((l) => l.tensor.dtype.startsWith('float'))
    .map((l) => ({ signal: entity.addOutput(`out_${l.name.replace(/\./g, '_')}`, { from: l.name }), name: l.name }));
  const feed = (c: number) => {
    tensorsOf(c).forEach((l, i) => {
      inputs[i].value = l.tensor.data.map((x) => x ?? Number.NaN);
    });
  };
  feed(0);
  return { entity, inputs, outputs, feed };
}
