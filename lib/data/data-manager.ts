import { TorchError } from '../errors.ts';
import type { DatabaseManager, Mode } from './database.ts';
import type { Batch, EnvironmentManager } from './environment-manager.ts';
import { ARRAY_FOR, allocate, type FieldValues } from './fields.ts';
import { Random } from './random.ts';

/**
 * Where a batch comes from (DeepPhysX's DataManager):
 * - `generate-then-reload`: the first epoch is produced by the environments and stored; later epochs read the database;
 * - `always-produce`: every batch comes from the environments (stored too when `store` is set);
 * - `load`: every batch is read from an existing database.
 */
export type DataSource = 'generate-then-reload' | 'always-produce' | 'load';

export interface DataManagerOptions {
  source: DataSource;
  database?: DatabaseManager;
  environments?: EnvironmentManager;
  batchSize: number;
  /** Batches per epoch when producing (the first epoch of generate-then-reload, every epoch of always-produce). */
  batchesPerEpoch?: number;
  /** always-produce: also store what is produced. */
  store?: boolean;
  /** Shuffle seed for database epochs (epoch e uses seed + e). */
  seed?: number;
  /**
   * Database epochs read a mode once into memory and gather batches there when it is smaller
   * than this many bytes (default 512 MiB; 0 reads SQLite for every batch). Same order either way.
   */
  memoryCacheBytes?: number;
}

export class DataManager {
  readonly options: DataManagerOptions;

  constructor(options: DataManagerOptions) {
    this.options = options;
    const { source, database, environments } = options;
    if ((source === 'load' || source === 'generate-then-reload') && !database) throw new TorchError('ERR_ARGUMENT', `The '${source}' source needs a database`);
    if ((source === 'always-produce' || source === 'generate-then-reload') && !environments) throw new TorchError('ERR_ARGUMENT', `The '${source}' source needs environments`);
  }

  /** Whether epoch e reads the database. */
  fromDatabase(epoch: number): boolean {
    return this.options.source === 'load' || (this.options.source === 'generate-then-reload' && epoch > 0);
  }

  #cache = new Map<Mode, { ids: Int32Array; values: FieldValues; count: number }>();

  /** The batches of one epoch, as they come. */
  async *epoch(epoch: number, mode: Mode = 'training'): AsyncGenerator<Batch> {
    const o = this.options;
    if (this.fromDatabase(epoch)) {
      const db = o.database!;
      const bytesPerSample = db.fields.reduce((a, f) => a + ARRAY_FOR[f.dtype].BYTES_PER_ELEMENT * f.size, 0);
      const count = db.count(mode);
      // An epoch is a shuffled pass over the stored samples, cut at batchesPerEpoch when it is
      // given (the learning-rate schedule's length counts on it).
      let left = o.batchesPerEpoch ?? Number.POSITIVE_INFINITY;
      if (count * bytesPerSample <= (o.memoryCacheBytes ?? 512 * 2 ** 20)) {
        for (const b of this.#fromMemory(mode, count, (o.seed ?? 0) + epoch)) {
          if (left-- <= 0) return;
          yield b;
        }
        return;
      }
      for (const values of db.batches(mode, o.batchSize, { shuffle: true, seed: (o.seed ?? 0) + epoch })) {
        if (left-- <= 0) return;
        const first = Object.values(values)[0];
        const field = db.fields[0];
        yield { size: first.length / field.size, values, rejected: 0 };
      }
      return;
    }
    const store = o.source === 'generate-then-reload' || o.store;
    this.#cache.delete(mode); // what is produced now joins the database
    const n = o.batchesPerEpoch ?? 1;
    for (let b = 0; b < n; b++) {
      const batch = await o.environments!.getBatch(o.batchSize);
      if (store && o.database) o.database.add(mode, batch.values, batch.size);
      yield batch;
    }
  }

  /** Batches gathered from a mode held in memory, shuffled exactly as DatabaseManager.batches() shuffles. */
  *#fromMemory(mode: Mode, count: number, seed: number): Generator<Batch> {
    const db = this.options.database!;
    let cached = this.#cache.get(mode);
    if (!cached || cached.count !== count) {
      const ids = db.ids(mode);
      cached = { ids, values: db.read(ids), count };
      this.#cache.set(mode, cached);
    }
    const order = Int32Array.from({ length: count }, (_, i) => i);
    const rnd = new Random(seed);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rnd.next() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const size = this.options.batchSize;
    for (let at = 0; at < count; at += size) {
      const n = Math.min(size, count - at);
      const values: FieldValues = {};
      for (const f of db.fields) {
        const src = cached.values[f.name] as Float32Array;
        const out = allocate(f, n) as Float32Array;
        for (let k = 0; k < n; k++) out.set(src.subarray(order[at + k] * f.size, (order[at + k] + 1) * f.size), k * f.size);
        values[f.name] = out;
      }
      yield { size: n, values, rejected: 0 };
    }
  }
}
