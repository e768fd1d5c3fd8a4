// Run by test/models/hygiene.test.ts in a plain `node --expose-gc --import tsx` child:
// vitest's workers keep objects reachable, which hides what the GC would collect.
// Prints one JSON line of results.
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { Model, Tensor } from '../../lib/index.ts';
import { fixture } from './fixtures.ts';

const gc = globalThis.gc as () => void;
const tick = () => new Promise((r) => setTimeout(r, 10));

// deref() keeps its target alive until the current job ends, so collect in a job that
// never dereferenced it, and look only after.
async function collected(ref: WeakRef<object>): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    await tick();
    gc();
    await tick();
    if (ref.deref() === undefined) return true;
  }
  return false;
}

const modelRef = (() => {
  const m = Model.loadSync(fixture('mlp_m2.pt'));
  m.forwardSync(new Tensor(new Float32Array(48), [1, 48]));
  return new WeakRef(m);
})();

const kinds = Model.loadSync(fixture('kinds.pt'));
const [smallRef, largeRef] = (() => {
  const small: Tensor = kinds.callSync('identity', new Tensor(new Float32Array(8)));
  const large: Tensor = kinds.callSync('identity', new Tensor(new Float32Array(256 * 1024)));
  return [new WeakRef(small.data.buffer), new WeakRef(large.data.buffer)];
})();

function inWorker(): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(import.meta.dirname, 'worker-entry.mjs'), { workerData: { model: fixture('kinds.pt') } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

const results = {
  modelCollected: await collected(modelRef),
  smallOutputCollected: await collected(smallRef),
  largeOutputCollected: await collected(largeRef),
  workers: await Promise.all([inWorker(), inWorker()]),
  mainAfterWorkers: Array.from(kinds.callSync('scaled', new Tensor(new Float32Array([1])), 3, 1).data as Float32Array),
};
console.log(JSON.stringify(results));
