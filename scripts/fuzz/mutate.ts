/**
 * Structure-aware mutants of TorchScript archives, deterministic from (base file, seed): a
 * record is picked (data.pkl, constants.pkl, code, debug info, tensor data, version) and its
 * bytes are mutated, then the archive is written again with correct sizes and CRCs, so that
 * libtorch's zip reader accepts the container and parses the damaged contents. One mutant in
 * eight damages the zip headers instead.
 */
import { createRequire } from 'node:module';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

const CRC32 = createRequire(import.meta.url)('crc-32') as { buf(b: Uint8Array): number };

interface Entry { name: string; data: Buffer; deflated: boolean }

/** A deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function readZip(buf: Buffer): Entry[] {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip');
  let count = buf.readUInt16LE(eocd + 10), at = buf.readUInt32LE(eocd + 16);
  const loc = eocd - 20;
  if (loc >= 0 && buf.readUInt32LE(loc) === 0x07064b50) {
    const z = Number(buf.readBigUInt64LE(loc + 8));
    count = Number(buf.readBigUInt64LE(z + 32));
    at = Number(buf.readBigUInt64LE(z + 48));
  }
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) {
    const method = buf.readUInt16LE(at + 10), nameLen = buf.readUInt16LE(at + 28), extraLen = buf.readUInt16LE(at + 30), commentLen = buf.readUInt16LE(at + 32);
    let comp = buf.readUInt32LE(at + 20), local = buf.readUInt32LE(at + 42);
    const name = buf.toString('latin1', at + 46, at + 46 + nameLen);
    for (let x = at + 46 + nameLen; x + 4 <= at + 46 + nameLen + extraLen;) {
      const id = buf.readUInt16LE(x), len = buf.readUInt16LE(x + 2);
      if (id === 1) {
        let f = x + 4;
        if (buf.readUInt32LE(at + 24) === 0xffffffff) f += 8;
        if (comp === 0xffffffff) (comp = Number(buf.readBigUInt64LE(f))), (f += 8);
        if (local === 0xffffffff) local = Number(buf.readBigUInt64LE(f));
      }
      x += 4 + len;
    }
    const start = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const raw = buf.subarray(start, start + comp);
    out.push({ name, deflated: method === 8, data: method === 8 ? inflateRawSync(raw) : Buffer.from(raw) });
    at += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

export function writeZip(entries: Entry[]): Buffer {
  const parts: Buffer[] = [], central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const body = e.deflated ? deflateRawSync(e.data) : e.data;
    const name = Buffer.from(e.name, 'latin1');
    const crc = CRC32.buf(e.data) >>> 0;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(e.deflated ? 8 : 0, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(body.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    const c = Buffer.alloc(46);
    c.writeUInt32LE(0x02014b50, 0);
    c.writeUInt16LE(20, 4);
    c.writeUInt16LE(20, 6);
    c.writeUInt16LE(e.deflated ? 8 : 0, 10);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(body.length, 20);
    c.writeUInt32LE(e.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    parts.push(local, name, body);
    central.push(c, name);
    offset += 30 + name.length + body.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, end]);
}

const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];
// Opcodes of TorchScript's pickles, so mutants stay close to what the unpickler handles.
const OPCODES = [0x28, 0x5d, 0x29, 0x7d, 0x4e, 0x88, 0x89, 0x4b, 0x4d, 0x4a, 0x8a, 0x58, 0x47, 0x74, 0x85, 0x86, 0x87, 0x65, 0x6c, 0x64, 0x75, 0x73, 0x71, 0x72, 0x68, 0x6a, 0x63, 0x81, 0x62, 0x52, 0x51, 0x2e];

function mutateBytes(data: Buffer, r: () => number): Buffer {
  const pick = (n: number) => Math.floor(r() * n);
  let d = Buffer.from(data);
  const rounds = 1 + pick(4);
  for (let k = 0; k < rounds && d.length > 0; k++) {
    const at = pick(d.length);
    switch (pick(8)) {
      case 0: d[at] ^= 1 << pick(8); break;                        // flip a bit
      case 1: d[at] = pick(256); break;                             // a random byte
      case 2: d[at] = OPCODES[pick(OPCODES.length)]; break;         // another opcode
      case 3: {                                                     // an interesting integer, little-endian
        const v = INTERESTING[pick(INTERESTING.length)], w = [1, 2, 4][pick(3)];
        for (let i = 0; i < w && at + i < d.length; i++) d[at + i] = (v >>> (8 * i)) & 0xff;
        break;
      }
      case 4: d = Buffer.concat([d.subarray(0, at), d.subarray(at + 1 + pick(16))]); break;  // delete bytes
      case 5: {                                                     // duplicate a chunk
        const len = 1 + pick(32);
        d = Buffer.concat([d.subarray(0, at), d.subarray(at, at + len), d.subarray(at)]);
        break;
      }
      case 6: d = d.subarray(0, at); break;                         // truncate
      default: d = Buffer.concat([d.subarray(0, at), Buffer.from([OPCODES[pick(OPCODES.length)]]), d.subarray(at)]); break;  // insert an opcode
    }
  }
  return d;
}

/** The mutant of `base` for `seed`. */
export function mutant(base: Buffer, seed: number): Buffer {
  const r = rng(seed);
  const pick = (n: number) => Math.floor(r() * n);
  if (pick(8) === 0) return mutateBytes(base, r); // the container itself
  const entries = readZip(base);
  const weights: [RegExp, number][] = [[/\/data\.pkl$/, 40], [/\/constants\.pkl$/, 8], [/\/code\/.*\.py$/, 18], [/\.debug_pkl$/, 10], [/\/data\/\d+$/, 6], [/\/version$/, 4], [/./, 2]];
  const choices = entries.flatMap((e, i) => {
    const w = weights.find(([re]) => re.test(e.name))![1];
    return Array(w).fill(i) as number[];
  });
  const i = choices[pick(choices.length)];
  entries[i] = { ...entries[i], data: mutateBytes(entries[i].data, r) };
  return writeZip(entries);
}
