import { TorchError } from '../errors.ts';
import type { DatabaseManager, Mode } from './database.ts';
import type { Batch, EnvironmentManager } from './environment-manager.ts';

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

  /** The batches of one epoch, as they come. */
  async *epoch(epoch: number, mode: Mode = 'training'): AsyncGenerator<Batch> {
    const o = this.options;
    if (this.fromDatabase(epoch)) {
      for (const values of o.database!.batches(mode, o.batchSize, { shuffle: true, seed: (o.seed ?? 0) + epoch })) {
        const first = Object.values(values)[0];
        const field = o.database!.fields[0];
        yield { size: first.length / field.size, values, rejected: 0 };
      }
      return;
    }
    const store = o.source === 'generate-then-reload' || o.store;
    const n = o.batchesPerEpoch ?? 1;
    for (let b = 0; b < n; b++) {
      const batch = await o.environments!.getBatch(o.batchSize);
      if (store && o.database) o.database.add(mode, batch.values, batch.size);
      yield batch;
    }
  }
}
