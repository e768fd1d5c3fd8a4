/**
 * `npm run demo:generate`: fills a sample database from the spring-chain environment (a
 * chain of 32 masses on hardening springs, solved to equilibrium under random loads), with
 * environments in 2 worker threads, then prints what was stored.
 *
 *   npm run demo:generate -- --batches 40 --batch-size 256 --workers 2 --out data/spring-chain.sqlite
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DataGeneration, DatabaseManager } from '../lib/index.ts';

const { values: o } = parseArgs({
  options: {
    batches: { type: 'string', default: '40' },
    'batch-size': { type: 'string', default: '256' },
    workers: { type: 'string', default: '2' },
    out: { type: 'string', default: 'data/spring-chain.sqlite' },
    mode: { type: 'string', default: 'training' },
    seed: { type: 'string', default: '1' },
  },
});
const environment = { module: path.resolve(import.meta.dirname, '../lib/data/examples/spring-chain.ts'), exportName: 'SpringChainEnvironment' };
const report = await new DataGeneration({
  environment,
  database: o.out,
  batchNb: Number(o.batches),
  batchSize: Number(o['batch-size']),
  workers: Number(o.workers),
  seed: Number(o.seed),
  mode: o.mode as 'training',
}).execute();
console.log(`${report.samples} samples in ${report.seconds.toFixed(1)} s (${report.samplesPerSecond.toFixed(0)} samples/s with ${o.workers} worker(s)), ${report.rejected} rejected, ${report.crashes} crashes`);
// Read-write: a read-only connection, the last to close, would leave the -wal and -shm files behind.
using db = DatabaseManager.open(o.out);
console.log(`${o.out}: ${db.count('training')} training, ${db.count('validation')} validation samples; fields ${db.fields.map((f) => `${f.name} [${f.shape}]`).join(', ')}`);
for (const [field, n] of Object.entries(db.normalization(o.mode as 'training'))) console.log(`  ${field}: mean ${n.mean.toExponential(3)}, std ${n.std.toExponential(3)} over ${n.count} values`);
