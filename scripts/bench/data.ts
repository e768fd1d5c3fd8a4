import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DatabaseManager, EnvironmentManager } from '../../lib/index.ts';

export interface DataFigures {
  samplesPerSecond: Record<string, number>;
  workerSpeedup: number;
  writesPerSecond: number;
  batchesReadPerSecond: number;
}

const chain = { module: path.resolve(import.meta.dirname, '../../lib/data/examples/spring-chain.ts'), exportName: 'SpringChainEnvironment' };

/** Generation throughput (1 and 2 worker threads, and in-thread), database writes and random batch reads. */
export async function dataThroughput(quick: boolean): Promise<DataFigures> {
  const samplesPerSecond: Record<string, number> = {};
  const batches = quick ? 4 : 24;
  for (const workers of [0, 1, 2]) {
    const m = new EnvironmentManager({ environment: chain, workers, seed: 1, environmentOptions: { nodes: 32, iterations: 200 } });
    await m.start();
    await m.getBatch(64); // warm the JIT in every environment
    const t0 = performance.now();
    for (let b = 0; b < batches; b++) await m.getBatch(256);
    samplesPerSecond[workers === 0 ? 'in-thread' : `${workers} worker${workers > 1 ? 's' : ''}`] = (batches * 256) / ((performance.now() - t0) / 1000);
    await m.close();
  }
  const workerSpeedup = samplesPerSecond['2 workers'] / samplesPerSecond['1 worker'];

  // Small samples: 4 + 1 floats, written 10,000 per transaction.
  const dir = mkdtempSync(path.join(tmpdir(), 'tl-bench-db-'));
  const db = DatabaseManager.open(path.join(dir, 'bench.sqlite'), { fields: [{ name: 'x', shape: [4] }, { name: 'y', shape: [1] }] });
  const n = 10_000, rounds = quick ? 5 : 20;
  const x = new Float32Array(n * 4).map((_, i) => Math.sin(i));
  const y = new Float32Array(n).map((_, i) => Math.cos(i));
  db.add('training', { x, y }, n);
  let t0 = performance.now();
  for (let r = 0; r < rounds; r++) db.add('training', { x, y }, n);
  const writesPerSecond = (rounds * n) / ((performance.now() - t0) / 1000);

  // Shuffled random-access batches of 256 over the whole set.
  let read = 0;
  t0 = performance.now();
  for (let epoch = 0; performance.now() - t0 < (quick ? 1000 : 3000); epoch++) {
    for (const _ of db.batches('training', 256, { seed: epoch, dropLast: true })) {
      read++;
      if (performance.now() - t0 > (quick ? 1000 : 3000)) break;
    }
  }
  const batchesReadPerSecond = read / ((performance.now() - t0) / 1000);
  db.close();
  rmSync(dir, { recursive: true, force: true });
  return { samplesPerSecond, workerSpeedup, writesPerSecond, batchesReadPerSecond };
}
