import { EventEmitter } from 'node:events';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { TorchError, describe } from '../errors.ts';
import { importModule, isTypeScript, toImportable, tsxApiUrl } from '../loader.ts';
import { ownModule } from '../paths.ts';
import { produce, type Environment, type EnvironmentOptions, type Predictor } from './environment.ts';
import { allocate, type Field, type FieldValues } from './fields.ts';

/** Where an Environment class lives, so worker threads can load it. */
export interface EnvironmentSource {
  /** A module path or file:// URL that exports the class. */
  module: string;
  /** The export's name. */
  exportName: string;
}

export interface EnvironmentManagerOptions {
  environment: EnvironmentSource | (new (options: EnvironmentOptions) => Environment);
  /** 0 (default): one environment in this thread; N: N environments in worker_threads. */
  workers?: number;
  /** Environment i gets seed + i; a replacement for a crashed one gets seed + i + 1000 * generation. */
  seed?: number;
  /** Steps per sample (default 1). */
  simulationsPerStep?: number;
  /** Rejected samples in a row before a request fails (default 10). */
  maxWrongSamplesPerStep?: number;
  /** Passed to each environment's constructor (with its seed). */
  environmentOptions?: Record<string, unknown>;
  /** Serves environments' getPrediction(). */
  predictor?: Predictor;
  /**
   * Each worker starts on its next part as soon as it hands one over, so workers never wait
   * for the main thread to store a batch (default true).
   */
  prefetch?: boolean;
}

/** A batch: each field's values for `size` samples, one after another. */
export interface Batch {
  size: number;
  values: FieldValues;
  rejected: number;
}

interface Slot {
  index: number;
  generation: number;
  worker: Worker;
  prefetched: { count: number; batch: Promise<Batch> } | null;
  ready: Promise<Field[]>;
  /** Became ready once: only a worker that ran is replaced when it dies. */
  started: boolean;
  /** Why it could not start, when it could not. */
  failed?: TorchError;
  exited?: boolean;
  busy: Map<number, { count: number; resolve: (b: Batch) => void; reject: (e: Error) => void }>;
}

const ENTRY = pathToFileURL(ownModule('data/worker-entry'));

/**
 * Runs environments and collects their samples (DeepPhysX's EnvironmentManager): one in this
 * thread, or N in worker_threads, each with its own deterministic seed. Samples come back as
 * transferred buffers (no copy). A worker that crashes is reported ('crash' event) and
 * replaced, and its request is given to the replacement: samples already returned are
 * untouched.
 *
 * @example
 * const envs = new EnvironmentManager({ environment: { module: import.meta.url, exportName: 'Beam' }, workers: 2, seed: 1 });
 * await envs.start(); const batch = await envs.getBatch(256); await envs.close();
 */
export class EnvironmentManager extends EventEmitter {
  readonly options: Required<Omit<EnvironmentManagerOptions, 'predictor' | 'environmentOptions'>> & EnvironmentManagerOptions;
  #local: Environment | null = null;
  #slots: Slot[] = [];
  #fields: Field[] = [];
  #nextId = 0;
  #closed = false;
  crashes = 0;

  constructor(options: EnvironmentManagerOptions) {
    super();
    const workers = options.workers ?? 0;
    if (!Number.isInteger(workers) || workers < 0) throw new TorchError('ERR_ARGUMENT', `Expected a non-negative integer for workers but received ${describe(options.workers)}`);
    if (workers > 0 && typeof options.environment === 'function') {
      throw new TorchError('ERR_ARGUMENT', 'Worker threads load the environment by module: pass { module, exportName } instead of a class');
    }
    this.options = { workers, seed: options.seed ?? 0, simulationsPerStep: options.simulationsPerStep ?? 1, maxWrongSamplesPerStep: options.maxWrongSamplesPerStep ?? 10, prefetch: options.prefetch ?? true, ...options };
  }

  get fields(): Field[] {
    return this.#fields;
  }

  async start(): Promise<void> {
    const o = this.options;
    if (o.workers === 0) {
      const Env = typeof o.environment === 'function' ? o.environment : ((await importModule(o.environment.module))[o.environment.exportName] as new (x: EnvironmentOptions) => Environment);
      if (typeof Env !== 'function') throw new TorchError('ERR_NOT_FOUND', `No environment class exported as '${(o.environment as EnvironmentSource).exportName}'`);
      this.#local = new Env({ ...o.environmentOptions, seed: o.seed });
      this.#local.setPredictor(o.predictor ?? null);
      await this.#local.create();
      await this.#local.init();
      this.#fields = this.#local.fields;
      return;
    }
    for (let i = 0; i < o.workers; i++) this.#slots.push(this.#spawn(i, 0));
    try {
      await Promise.all(this.#slots.map((s) => s.ready));
    } catch (e) {
      await this.close();
      throw e;
    }
    this.#fields = await this.#slots[0].ready;
  }

  #spawn(index: number, generation: number): Slot {
    const o = this.options;
    const src = o.environment as EnvironmentSource;
    const workerData = {
      module: toUrl(src.module),
      exportName: src.exportName,
      options: { ...o.environmentOptions, seed: o.seed + index + 1000 * generation },
      simulationsPerStep: o.simulationsPerStep,
      maxWrongSamplesPerStep: o.maxWrongSamplesPerStep,
    };
    // torchloop's own TypeScript source (development) needs tsx registered in the worker first;
    // built JavaScript does not (the worker entry imports a user's .ts module through tsx itself).
    const worker = isTypeScript(ENTRY.href)
      ? new Worker(`import(${JSON.stringify(tsxApiUrl())}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY.href)}); })`, { eval: true, workerData })
      : new Worker(ENTRY, { workerData });
    const slot: Slot = { index, generation, worker, busy: new Map(), ready: null as never, started: false, prefetched: null };
    slot.ready = new Promise((resolve, reject) => {
      const onMessage = (msg: { type: string; id: number; fields: Field[]; values: FieldValues; rejected: number; message: string; code?: string; input: FieldValues }) => {
        if (msg.type === 'ready') {
          slot.started = true;
          resolve(msg.fields);
        } else if (msg.type === 'startFailed') {
          const e = new TorchError((msg.code as never) ?? 'ERR_RUNTIME', `environment ${index} did not start: ${msg.message}`);
          this.#startFailed(slot, e, reject);
        }
        else if (msg.type === 'samples') {
          const req = slot.busy.get(msg.id);
          slot.busy.delete(msg.id);
          req?.resolve({ size: req.count, values: msg.values, rejected: msg.rejected });
        } else if (msg.type === 'failed') {
          const req = slot.busy.get(msg.id);
          slot.busy.delete(msg.id);
          req?.reject(new TorchError((msg.code as never) ?? 'ERR_RUNTIME', `environment ${index}: ${msg.message}`));
        } else if (msg.type === 'predict') {
          this.#serve(slot, msg.id, msg.input);
        }
      };
      worker.on('message', onMessage);
      worker.once('error', (e) => this.#crashed(slot, e, reject));
      worker.once('exit', (code) => {
        slot.exited = true;
        if (!this.#closed && (code !== 0 || !slot.started)) this.#crashed(slot, new Error(`worker exited with code ${code}`), reject);
      });
    });
    return slot;
  }

  async #serve(slot: Slot, id: number, input: FieldValues): Promise<void> {
    const p = this.options.predictor;
    if (!p) {
      slot.worker.postMessage({ type: 'prediction', id, error: 'No network serves predictions: give the EnvironmentManager a predictor' });
      return;
    }
    try {
      slot.worker.postMessage({ type: 'prediction', id, values: await p(input) });
    } catch (e) {
      slot.worker.postMessage({ type: 'prediction', id, error: (e as Error).message });
    }
  }

  #startFailed(slot: Slot, error: TorchError, rejectReady: (e: Error) => void): void {
    slot.failed = error;
    rejectReady(error);
    for (const [, req] of slot.busy) req.reject(error);
    slot.busy.clear();
  }

  #crashed(slot: Slot, error: Error, rejectReady: (e: Error) => void): void {
    if (this.#closed || this.#slots[slot.index] !== slot || slot.failed) return;
    if (!slot.started) {
      // It died before it ran (a crash in its module's top level, say): a replacement would too.
      this.#startFailed(slot, new TorchError('ERR_RUNTIME', `environment ${slot.index} did not start: ${error.message}`), rejectReady);
      return;
    }
    this.crashes++;
    rejectReady(error);
    this.emit('crash', { index: slot.index, generation: slot.generation, error });
    // Replace the worker and hand it the requests the dead one had in hand.
    const replacement = this.#spawn(slot.index, slot.generation + 1);
    this.#slots[slot.index] = replacement;
    replacement.ready.then(
      () => {
        for (const [, req] of slot.busy) this.#request(replacement, req.count).then(req.resolve, req.reject);
        slot.busy.clear();
      },
      (e) => {
        for (const [, req] of slot.busy) req.reject(e);
      },
    );
  }

  /** Worker i's next `count` samples: the prefetched part when it has that size. */
  async #part(i: number, count: number): Promise<Batch> {
    await this.#slots[i].ready.catch(() => this.#slots[i].ready);
    const slot = this.#slots[i];
    let next: Promise<Batch>;
    if (slot.prefetched && slot.prefetched.count === count) next = slot.prefetched.batch;
    else {
      // A prefetch of another size is still taken (its samples are the environment's next), then the request.
      const stale = slot.prefetched;
      next = stale ? stale.batch.then(() => this.#request(slot, count)) : this.#request(slot, count);
    }
    slot.prefetched = null;
    const batch = await next;
    if ((this.options.prefetch ?? true) && !this.#closed && this.#slots[i] === slot) {
      const ahead = this.#request(slot, count);
      ahead.catch(() => {}); // surfaces when taken
      slot.prefetched = { count, batch: ahead };
    }
    return batch;
  }

  #request(slot: Slot, count: number): Promise<Batch> {
    return new Promise((resolve, reject) => {
      const id = this.#nextId++;
      slot.busy.set(id, { count, resolve, reject });
      slot.worker.postMessage({ type: 'produce', id, count });
    });
  }

  /** Produces `size` samples, spread over the environments. */
  async getBatch(size: number): Promise<Batch> {
    if (this.#closed) throw new TorchError('ERR_DISPOSED', 'The environment manager is closed');
    if (!Number.isInteger(size) || size < 1) throw new TorchError('ERR_ARGUMENT', `Expected a positive batch size but received ${describe(size)}`);
    if (this.#local) {
      const { values, rejected } = await produce(this.#local, size, this.options);
      return { size, values, rejected };
    }
    const n = this.#slots.length;
    const parts = await Promise.all(
      this.#slots.map((_, i) => {
        const count = Math.floor(size / n) + (i < size % n ? 1 : 0);
        return count > 0 ? this.#part(i, count) : null;
      }),
    );
    return concat(this.#fields, parts.filter((p): p is Batch => p !== null), size);
  }

  /** Applies predictions to the in-thread environment (prediction pipelines run one environment here). */
  get environment(): Environment | null {
    return this.#local;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#local) await this.#local.close();
    await Promise.all(
      this.#slots.filter((s) => !s.exited).map(
        (s) =>
          new Promise<void>((resolve) => {
            s.worker.once('exit', () => resolve());
            s.worker.postMessage({ type: 'close' });
            setTimeout(() => s.worker.terminate().then(() => resolve()), 2000).unref();
          }),
      ),
    );
  }
}

function toUrl(module: string): string {
  return toImportable(module);
}

/** Joins per-worker parts into one batch (one copy, into arrays of the batch size). */
export function concat(fields: Field[], parts: Batch[], size: number): Batch {
  if (parts.length === 1) return parts[0];
  const values: FieldValues = {};
  for (const f of fields) {
    const out = allocate(f, size);
    let at = 0;
    for (const p of parts) {
      (out as Float32Array).set(p.values[f.name] as Float32Array, at);
      at += p.values[f.name].length;
    }
    values[f.name] = out;
  }
  return { size, values, rejected: parts.reduce((a, p) => a + p.rejected, 0) };
}
