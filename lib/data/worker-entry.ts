// Runs one Environment in a worker_thread for the EnvironmentManager. Messages:
//   in:  { type: 'produce', id, count } | { type: 'prediction', id, values | error } | { type: 'close' }
//   out: { type: 'ready', fields } | { type: 'samples', id, values, rejected } (buffers transferred)
//        | { type: 'predict', id, input } | { type: 'failed', id, message, code }
import { parentPort, workerData } from 'node:worker_threads';
import { importModule } from '../loader.ts';
import { produce, type Environment } from './environment.ts';
import type { FieldValues } from './fields.ts';

const { module, exportName, options, simulationsPerStep, maxWrongSamplesPerStep } = workerData as {
  module: string;
  exportName: string;
  options: Record<string, unknown>;
  simulationsPerStep: number;
  maxWrongSamplesPerStep: number;
};
const port = parentPort!;
// A worker that cannot start (its module does not import, has no such export, or the
// environment's constructor, create() or init() throws) says why once and ends: the manager
// reports it instead of replacing the worker, which would fail the same way.
let env: Environment;
try {
  env = await startEnvironment();
} catch (e) {
  port.postMessage({ type: 'startFailed', message: (e as Error).message, code: (e as { code?: string }).code });
  port.close();
  process.exit(0);
}

async function startEnvironment(): Promise<Environment> {
  let exports: Record<string, unknown>;
  try {
    exports = await importModule(module);
  } catch (e) {
    throw Object.assign(new Error(`cannot import the environment module ${module}: ${(e as Error).message}`), { code: 'ERR_NOT_FOUND' });
  }
  const EnvClass = exports[exportName] as new (o: Record<string, unknown>) => Environment;
  if (typeof EnvClass !== 'function') {
    const found = Object.keys(exports).filter((k) => typeof exports[k] === 'function');
    throw Object.assign(new Error(`${module} exports no environment class '${exportName}' (its exports: ${found.join(', ') || 'none'})`), { code: 'ERR_NOT_FOUND' });
  }
  const made = new EnvClass(options);
  await made.create();
  await made.init();
  return made;
}

let nextPrediction = 0;
const pending = new Map<number, { resolve: (v: FieldValues) => void; reject: (e: Error) => void }>();
env.setPredictor(
  (input) =>
    new Promise((resolve, reject) => {
      const id = nextPrediction++;
      pending.set(id, { resolve, reject });
      port.postMessage({ type: 'predict', id, input });
    }),
);

port.on('message', async (msg: { type: string; id: number; count: number; values?: FieldValues; error?: string }) => {
  if (msg.type === 'produce') {
    try {
      const { values, rejected } = await produce(env, msg.count, { simulationsPerStep, maxWrongSamplesPerStep });
      port.postMessage({ type: 'samples', id: msg.id, values, rejected }, Object.values(values).map((a) => a.buffer as ArrayBuffer));
    } catch (e) {
      port.postMessage({ type: 'failed', id: msg.id, message: (e as Error).message, code: (e as { code?: string }).code });
    }
  } else if (msg.type === 'prediction') {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.reject(new Error(msg.error));
    else p?.resolve(msg.values!);
  } else if (msg.type === 'close') {
    await env.close();
    port.close();
  }
});
port.postMessage({ type: 'ready', fields: env.fields });
