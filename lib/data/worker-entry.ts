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
const EnvClass = (await importModule(module))[exportName] as new (o: Record<string, unknown>) => Environment;
const env = new EnvClass(options);
await env.create();
await env.init();

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
