import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);
const crc32c = require('crc-32/crc32c') as { buf(b: Uint8Array, seed?: number): number };

// The subset of TensorFlow's event.proto / summary.proto that TensorBoard reads for scalars and
// histograms. simple_value and histo sit in a oneof there, as here: a plain proto3 float field
// is left out when it is 0, and TensorBoard then never sees a scalar equal to 0.
const root = protobuf.parse(`
syntax = "proto3";
message HistogramProto { double min = 1; double max = 2; double num = 3; double sum = 4; double sum_squares = 5;
  repeated double bucket_limit = 6 [packed = true]; repeated double bucket = 7 [packed = true]; }
message TensorShapeProto { message Dim { int64 size = 1; string name = 2; } repeated Dim dim = 2; }
message TensorProto { int32 dtype = 1; TensorShapeProto tensor_shape = 2; }
message PluginData { string plugin_name = 1; bytes content = 2; }
message SummaryMetadata { PluginData plugin_data = 1; }
message SummaryValue { string tag = 1; SummaryMetadata metadata = 9; oneof value { float simple_value = 2; HistogramProto histo = 5; TensorProto tensor = 8; } }
message Summary { repeated SummaryValue value = 1; }
message Event { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
`, { keepCase: true }).root;
const Event = root.lookupType('Event');

/** TFRecord's masked CRC-32C. */
function masked(data: Uint8Array): number {
  const crc = crc32c.buf(data) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/**
 * Writes TensorBoard event files (`events.out.tfevents.<time>.<host>`): TFRecord framing
 * (length, masked CRC-32C of the length, the Event proto, its masked CRC-32C).
 */
export class EventWriter {
  static #count = 0;
  readonly file: string;
  #fd: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;

  constructor(dir: string) {
    mkdirSync(dir, { recursive: true });
    // As TensorBoard's own writers name them (time, host, pid, a counter): a resumed run in the
    // same second gets a file of its own instead of overwriting the first.
    this.file = path.join(dir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname()}.${process.pid}.${EventWriter.#count++}`);
    this.#fd = openSync(this.file, 'w');
    this.#write({ wall_time: Date.now() / 1000, step: 0, file_version: 'brain.Event:2' });
    this.flush();
  }

  scalar(tag: string, value: number, step: number): void {
    this.#write({ wall_time: Date.now() / 1000, step, summary: { value: [{ tag, simple_value: value }] } });
  }

  /**
   * A plugin's summary (TensorBoard's HParams plugin, say): an empty float tensor whose
   * metadata carries the plugin's serialized data, as TensorBoard's own summary writers make it.
   */
  pluginSummary(tag: string, pluginName: string, content: Uint8Array, step = 0): void {
    this.#write({
      wall_time: Date.now() / 1000,
      step,
      summary: { value: [{ tag, metadata: { plugin_data: { plugin_name: pluginName, content } }, tensor: { dtype: 1, tensor_shape: { dim: [{}] } } }] },
    });
  }

  /** A histogram of values (weights, gradients) with `bins` equal-width buckets. */
  histogram(tag: string, values: ArrayLike<number>, step: number, bins = 30): void {
    let min = Infinity, max = -Infinity, sum = 0, sumSquares = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < min) min = v;
      if (v > max) max = v;
      sum += v;
      sumSquares += v * v;
    }
    const width = (max - min) / bins || 1;
    const bucket = new Array(bins).fill(0);
    for (let i = 0; i < values.length; i++) bucket[Math.min(bins - 1, Math.floor((values[i] - min) / width))]++;
    const bucketLimit = bucket.map((_, i) => min + (i + 1) * width);
    this.#write({
      wall_time: Date.now() / 1000,
      step,
      summary: { value: [{ tag, histo: { min, max, num: values.length, sum, sum_squares: sumSquares, bucket_limit: bucketLimit, bucket } }] },
    });
  }

  #write(event: Record<string, unknown>): void {
    // encode() takes plain objects shaped like the message (fromObject's conversions are slow).
    const data = Event.encode(event).finish();
    const header = Buffer.alloc(12);
    header.writeBigUInt64LE(BigInt(data.length), 0);
    header.writeUInt32LE(masked(header.subarray(0, 8)), 8);
    const footer = Buffer.alloc(4);
    footer.writeUInt32LE(masked(data), 0);
    // Buffered: one write per flush (an epoch), not a system call per batch.
    this.#pending.push(header, Buffer.from(data), footer);
    this.#pendingBytes += 16 + data.length;
    if (this.#pendingBytes > 1 << 20) this.flush();
  }

  /** Writes buffered events to the file. */
  flush(): void {
    if (!this.#pending.length) return;
    writeSync(this.#fd, Buffer.concat(this.#pending));
    this.#pending = [];
    this.#pendingBytes = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.#fd);
  }
}
