import { readFileSync, writeFileSync } from 'node:fs';
import { TorchError } from '../errors.ts';
import { Tensor, arrayTypeFor, type DType } from '../tensor.ts';

// https://github.com/huggingface/safetensors: u64 little-endian header size, a JSON header
// { name: { dtype, shape, data_offsets: [begin, end] }, __metadata__? }, then the raw bytes.
const TO_ST: Record<DType, string> = {
  float32: 'F32', float64: 'F64', float16: 'F16', bfloat16: 'BF16', int8: 'I8', int16: 'I16', int32: 'I32', int64: 'I64', uint8: 'U8', bool: 'BOOL',
};
const FROM_ST = Object.fromEntries(Object.entries(TO_ST).map(([k, v]) => [v, k as DType])) as Record<string, DType>;

/** Encodes named tensors as a safetensors file's bytes. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata?: Record<string, string>): Buffer {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const name of names) {
    const t = tensors[name];
    const bytes = t.data.byteLength;
    header[name] = { dtype: TO_ST[t.dtype], shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8; // keeps the data 8-byte aligned
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const d = tensors[name].data;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(out, at);
    at += d.byteLength;
  }
  return out;
}

/** Decodes a safetensors file's bytes into named tensors (copies, aligned). */
export function decodeSafetensors(bytes: Uint8Array): { tensors: Record<string, Tensor>; metadata: Record<string, string> } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 8) throw new TorchError('ERR_MODEL_LOAD', 'Not a safetensors file: shorter than its 8-byte header size');
  const n = Number(buf.readBigUInt64LE(0));
  if (n > buf.length - 8) throw new TorchError('ERR_MODEL_LOAD', `Not a safetensors file (or truncated): header of ${n} bytes in a file of ${buf.length}`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  } catch {
    throw new TorchError('ERR_MODEL_LOAD', 'Not a safetensors file: its header is not JSON');
  }
  const base = 8 + n;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const dtype = FROM_ST[e.dtype];
    if (!dtype) throw new TorchError('ERR_DTYPE', `Tensor '${name}' has dtype ${e.dtype}, which torchloop does not support`);
    const [b, end] = e.data_offsets;
    if (base + end > buf.length || b > end) throw new TorchError('ERR_MODEL_LOAD', `Tensor '${name}' lies outside the file (truncated?)`);
    const Ctor = arrayTypeFor(dtype);
    const elementSize = (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
    const data = new Ctor((end - b) / elementSize);
    Buffer.from(data.buffer).set(buf.subarray(base + b, base + end));
    tensors[name] = new Tensor(data, e.shape, dtype);
  }
  return { tensors, metadata };
}

export function writeSafetensors(path: string, tensors: Record<string, Tensor>, metadata?: Record<string, string>): void {
  writeFileSync(path, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(path: string): Record<string, Tensor> {
  return decodeSafetensors(readFileSync(path)).tensors;
}
