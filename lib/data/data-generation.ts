import { DatabaseManager, type Mode } from './database.ts';
import { EnvironmentManager, type EnvironmentManagerOptions } from './environment-manager.ts';
import { ProgressBar } from './progress.ts';

export interface DataGenerationOptions extends Omit<EnvironmentManagerOptions, 'environment'> {
  environment: EnvironmentManagerOptions['environment'];
  /** A dataset file, or an open DatabaseManager. */
  database: string | DatabaseManager;
  batchNb: number;
  batchSize: number;
  mode?: Mode;
  /** Show a progress bar on stderr (default true). */
  progress?: boolean;
}

export interface GenerationReport {
  samples: number;
  seconds: number;
  samplesPerSecond: number;
  rejected: number;
  crashes: number;
  file: string;
}

/**
 * DeepPhysX's data-generation pipeline: environments produce batches, each committed to the
 * database in its own transaction (a killed run loses at most the batch in hand).
 *
 * @example
 * await new DataGeneration({ environment: { module, exportName: 'SpringChainEnvironment' },
 *   database: 'data/chain.sqlite', batchNb: 40, batchSize: 256, workers: 2 }).execute();
 */
export class DataGeneration {
  readonly options: DataGenerationOptions;

  constructor(options: DataGenerationOptions) {
    this.options = options;
  }

  async execute(): Promise<GenerationReport> {
    const o = this.options;
    const envs = new EnvironmentManager(o);
    envs.on('crash', ({ index, error }) => process.stderr.write(`\nenvironment ${index} crashed (${error.message}); replaced\n`));
    await envs.start();
    const db = typeof o.database === 'string' ? DatabaseManager.open(o.database, { fields: envs.fields }) : o.database;
    const bar = new ProgressBar('generating', o.batchNb, o.progress ?? true);
    const started = performance.now();
    let samples = 0, rejected = 0;
    try {
      for (let b = 0; b < o.batchNb; b++) {
        const batch = await envs.getBatch(o.batchSize);
        db.add(o.mode ?? 'training', batch.values, batch.size);
        samples += batch.size;
        rejected += batch.rejected;
        bar.update(b + 1, `batches, ${Math.round(samples / ((performance.now() - started) / 1000))} samples/s`);
      }
    } finally {
      await envs.close();
      if (typeof o.database === 'string') db.close();
    }
    const seconds = (performance.now() - started) / 1000;
    return { samples, seconds, samplesPerSecond: samples / seconds, rejected, crashes: envs.crashes, file: typeof o.database === 'string' ? o.database : o.database.file };
  }
}
