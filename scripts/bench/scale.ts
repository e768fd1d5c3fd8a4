/**
 * `npm run bench:scale`: what more than one process buys on this machine.
 *   - grid throughput: a grid of 8 small runs (the spring chain, 60 epochs of 20 batches each, 1 to 4 s a run) with 1 and
 *     2 local workers, in runs per minute (worker start-up included, as users see it);
 *   - data-parallel training: M3 (MLP 512-1024-1024-512 relu, Adam, global batch 64) in 1
 *     process and in 2 (c10d Gloo, bucketed all-reduce), 1 thread each; and 1 process with 2
 *     threads, the other way to use 2 cores. Scaling efficiency = samples/s(2) / (2 x samples/s(1)).
 * Rounds alternate the configurations so that each sees the same machine noise; medians.
 * Writes bench-results/scale.json.
 *
 *   npm run bench:scale [-- --rounds 3] [-- --steps 60]
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { launch } from '../../lib/learn/data-parallel.ts';
import { runGrid } from '../../lib/grid/grid.ts';

const { values: opts } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, steps: { type: 'string', default: '60' } } });
const rounds = Number(opts.rounds), steps = Number(opts.steps);
const root = path.resolve(import.meta.dirname, '..', '..');
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(`${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} CPUs, Node ${process.version}; ${rounds} rounds`);

// Grid throughput.
const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-scale-'));
cpSync(path.join(root, 'demo/learn/spring-chain.yaml'), path.join(dir, 'spring-chain.yaml'));
cpSync(path.join(root, 'demo/learn/base.yaml'), path.join(dir, 'base.yaml'));
writeFileSync(path.join(dir, 'exp.yaml'), `defaults: [spring-chain.yaml]
database: { file: data.sqlite }
environment: { workers: 0, options: { nodes: 8, iterations: 20 } }
network: { mlp: { sizes: [8, 128, 128, 8], activation: tanh } }
training: { epochs: 60, batchSize: 32, batchesPerEpoch: 20, earlyStopping: null }
validation: { samples: 128 }
stats: { histogramsEvery: 0, plots: false }
checkpoint: { saveFrequency: 0 }
`);
writeFileSync(path.join(dir, 'grid.yaml'), `name: scale\nbase: exp.yaml\noutput: out\nproduct:\n  optimizer.lr: [1.0e-3, 3.0e-3]\n  network.mlp.sizes: [[8, 128, 128, 8], [8, 256, 256, 8]]\nseeds: [0, 1]\n`);
const grid: Record<string, number[]> = { '1': [], '2': [] };
for (let r = 0; r < rounds; r++) {
  for (const w of [1, 2]) {
    const rep = await runGrid(path.join(dir, 'grid.yaml'), { workers: w, progress: false });
    grid[String(w)].push(rep.runsPerMinute);
    console.log(`  grid round ${r + 1}, ${w} worker(s): ${rep.runsPerMinute.toFixed(1)} runs/min (${rep.seconds.toFixed(1)} s for 8 runs)`);
  }
}

// Data-parallel M3.
const rank = path.join(root, 'scripts/bench/scale-rank.ts');
async function ddp(nproc: number, threads: number, bucketCapMB: number): Promise<{ samplesPerSecond: number; msPerStep: number; buckets: number; allreduceMs: number }> {
  let out = '';
  const sink = new (await import('node:stream')).Writable({ write(c, _e, cb) { out += c; cb(); } });
  if (nproc === 1) {
    out = execFileSync(process.execPath, ['--import', 'tsx', rank, String(steps), String(bucketCapMB), String(threads)], { encoding: 'utf8' });
  } else {
    await launch({ nproc, command: [process.execPath, '--import', 'tsx', rank, String(steps), String(bucketCapMB), String(threads)], timeoutMs: 120_000, stdout: sink, stderr: new (await import('node:stream')).Writable({ write(_c, _e, cb) { cb(); } }) });
  }
  return JSON.parse(out.trim().split('\n').pop()!);
}
const configs = [
  { id: '1 process, 1 thread', nproc: 1, threads: 1, cap: 25 },
  { id: '1 process, 2 threads', nproc: 1, threads: 2, cap: 25 },
  { id: '2 processes, 1 thread each (25 MB buckets)', nproc: 2, threads: 1, cap: 25 },
  { id: '2 processes, 1 thread each (1 MB buckets)', nproc: 2, threads: 1, cap: 1 },
];
const train: Record<string, { samples: number[]; ms: number[]; allreduce: number[]; buckets: number }> = {};
for (let r = 0; r < rounds; r++) {
  for (const c of configs) {
    const res = await ddp(c.nproc, c.threads, c.cap);
    const t = (train[c.id] ??= { samples: [], ms: [], allreduce: [], buckets: res.buckets });
    t.samples.push(res.samplesPerSecond);
    t.ms.push(res.msPerStep);
    t.allreduce.push(res.allreduceMs);
    console.log(`  M3 round ${r + 1}, ${c.id}: ${res.samplesPerSecond.toFixed(0)} samples/s, ${res.msPerStep.toFixed(1)} ms/step${res.buckets ? ` (${res.buckets} buckets; an all-reduce of all gradients alone: ${res.allreduceMs.toFixed(1)} ms)` : ''}`);
  }
}
const one = median(train[configs[0].id].samples);
const rows = configs.map((c) => ({ config: c.id, samplesPerSecond: median(train[c.id].samples), msPerStep: median(train[c.id].ms), allreduceMs: median(train[c.id].allreduce), buckets: train[c.id].buckets, efficiency: median(train[c.id].samples) / (c.nproc * c.threads * one), spread: [Math.min(...train[c.id].samples), Math.max(...train[c.id].samples)] }));
const gridRows = [1, 2].map((w) => ({ workers: w, runsPerMinute: median(grid[String(w)]) }));
console.log('\ngrid of 8 runs (median runs/min):');
for (const g of gridRows) console.log(`  ${g.workers} worker(s): ${g.runsPerMinute.toFixed(1)}  (x${(g.runsPerMinute / gridRows[0].runsPerMinute).toFixed(2)})`);
console.log('\nM3 training, global batch 64 (median samples/s; efficiency = samples/s / (cores used x 1-process samples/s)):');
for (const r of rows) console.log(`  ${r.config}: ${r.samplesPerSecond.toFixed(0)} (rounds ${r.spread.map((v) => v.toFixed(0)).join(' to ')}), ${r.msPerStep.toFixed(1)} ms/step, efficiency ${(r.efficiency * 100).toFixed(0)}%${r.allreduceMs ? `, all-reduce alone ${r.allreduceMs.toFixed(1)} ms` : ''}`);
mkdirSync(path.join(root, 'bench-results'), { recursive: true });
writeFileSync(path.join(root, 'bench-results', 'scale.json'), JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, rounds, steps, grid: gridRows, training: rows }, null, 2));
