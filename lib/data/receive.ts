import { existsSync } from 'node:fs';
import { TorchError } from '../errors.ts';
import { environmentSource, resolvePath, type Experiment } from '../learn/config.ts';
import { DatabaseManager, type Mode } from './database.ts';
import { EnvironmentManager } from './environment-manager.ts';
import type { Field, FieldSpec } from './fields.ts';
import { RemoteSampleSink } from './remote.ts';
import type { NatsOptions } from '../nats-options.ts';

/**
 * `torchloop generate <config> --nats <servers>`: the experiment's database filled by remote
 * environment clients (TypeScript or Python, docs/PROTOCOL.md) instead of environments here.
 * The fields come from the database when it exists, else from `environment.fields`, else from
 * the experiment's environment class (created here only to read them).
 */
export async function receiveRemote(exp: Experiment, o: { nats: NatsOptions; dataset: string; samples: number; mode: Mode; timeoutMs: number; onReady?: (stream: string) => void }): Promise<{ samples: number; refused: number; duplicates: number; seconds: number; file: string }> {
  const file = resolvePath(exp, exp.database.file);
  let fields: (FieldSpec & { kind?: Field['kind'] })[] | undefined = exp.environment.fields;
  if (!existsSync(file) && !fields) {
    const envs = new EnvironmentManager({ environment: environmentSource(exp), environmentOptions: exp.environment.options });
    await envs.start();
    fields = envs.fields;
    await envs.close();
  }
  const dataset = o.dataset.replace(/[^A-Za-z0-9_-]/g, '_');
  using db = DatabaseManager.open(file, { fields });
  const sink = new RemoteSampleSink({ ...o.nats, dataset, database: db, mode: o.mode });
  const t0 = performance.now();
  const got = await sink.receive({ samples: o.samples, timeoutMs: o.timeoutMs, onReady: () => o.onReady?.(`TORCHLOOP_${dataset}`) });
  const seconds = (performance.now() - t0) / 1000;
  if (got < o.samples) {
    throw new TorchError('ERR_RUNTIME', `Received ${got} of ${o.samples} samples on dataset '${dataset}' in ${seconds.toFixed(0)} s (${sink.rejected} batches refused${sink.rejections.length ? `, the last because ${sink.rejections.at(-1)!.reason}` : ''}); the samples received are stored in ${file}`);
  }
  return { samples: got, refused: sink.rejected, duplicates: sink.duplicates, seconds, file };
}
