/**
 * `npm run bench`: torchloop's speed as ratios against baselines run side by side.
 *   - steps (steps.ts): per-step latency of M1, M2, M3 on both addon builds (libtorch 2.13
 *     and Debian's 1.13) against the C++ floor, PyTorch 2.13 and 1.13, onnxruntime-node;
 *   - training throughput (training.ts): the main build against PyTorch 2.13;
 *   - the zoo (zoo.ts): every published model in ../shared/real-models as an entity on both
 *     builds, against PyTorch 2.13 and 1.13 (torch.jit, frozen) and onnxruntime-node;
 *   - the control loop (loop.ts): jitter and missed deadlines of ControlLoop against main-thread
 *     timers, a main-thread spin and the native floor, with and without load;
 *   - data generation and the sample database (data.ts), the training pipeline (pipeline.ts),
 *     the MuJoCo beam: WASM workers against Python clients over NATS, training to 5%, the speed-up (beam.ts);
 *   - sim (sim.ts): the H1 sim2sim loop in Node against the authors' Python loop, and mj_step
 *     in MuJoCo's WASM build against its Python bindings and its C library.
 * Writes bench-results/bench.json and bench-results/latency.svg (+ .png).
 *
 *   npm run bench [-- --quick] [-- --models M1,M2] [-- --rounds 20] [-- --no-training --no-data --no-pipeline --no-compile --no-zoo --no-loop --no-sim] [-- --loop-seconds 60]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
// @ts-expect-error: a plain .mjs module
import { BUILDS } from '../builds.mjs';
import { writeHistograms } from './histogram.ts';
import { SPECS, stepLatency, type Check } from './steps.ts';

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    models: { type: 'string', default: 'M1,M2,M3' },
    rounds: { type: 'string', default: '20' },
    steps: { type: 'boolean', default: true },
    compile: { type: 'boolean', default: true },
    training: { type: 'boolean', default: true },
    data: { type: 'boolean', default: true },
    pipeline: { type: 'boolean', default: true },
    zoo: { type: 'boolean', default: true },
    loop: { type: 'boolean', default: true },
    sim: { type: 'boolean', default: true },
    'loop-seconds': { type: 'string', default: '60' },
  },
  allowNegative: true,
});
const root = path.resolve(import.meta.dirname, '..', '..');
const outDir = path.join(root, 'bench-results');
mkdirSync(outDir, { recursive: true });
const models = opts.models.split(',');
const checks: Check[] = [];
const cpu = os.cpus()[0]?.model ?? '?';
console.log(`${cpu}, ${os.cpus().length} CPUs, Node ${process.version}, OPENBLAS_CORETYPE=${process.env.OPENBLAS_CORETYPE ?? '(unset)'}${opts.quick ? ' (quick run)' : ''}`);

const steps = opts.steps ? await stepLatency({ rounds: Number(opts.rounds), scale: opts.quick ? 0.1 : 1, models, compile: opts.compile }) : null;
if (steps) checks.push(...steps.checks);

let zoo: Awaited<ReturnType<typeof import('./zoo.ts').zooBench>> = null;
if (opts.zoo) {
  const { zooBench } = await import('./zoo.ts');
  console.log('\nzoo: the published models in ../shared/real-models, as entities on each build, against PyTorch and onnxruntime');
  zoo = await zooBench({ quick: opts.quick });
  if (zoo) checks.push(...zoo.checks);
}

let loop: Awaited<ReturnType<typeof import('./loop.ts').loopBench>> | null = null;
if (opts.loop) {
  const { loopBench } = await import('./loop.ts');
  const seconds = opts.quick ? 5 : Number(opts['loop-seconds']);
  console.log(`\nloop: the demo's arm and PD controller at 1 kHz for ${seconds} s per variant, without and with load (HTTP on loopback + a CPU-bound process)`);
  loop = await loopBench({ seconds });
  checks.push(...loop.checks);
}

// The sections below run in this process on the main build (libtorch 2.x).
const { version } = await import('../../lib/index.ts');
const fixtures = path.join(root, BUILDS[0].fixtures);

let training: Awaited<ReturnType<typeof import('./training.ts').trainingThroughput>> = [];
if (opts.training) {
  const { trainingThroughput } = await import('./training.ts');
  console.log(`\ntraining throughput (Adam + MSE, same TorchScript file, same threads): libtorch ${version.libtorch} against PyTorch ${BUILDS[0].torch}`);
  training = await trainingThroughput(fixtures, BUILDS[0].python(), opts.quick);
  for (const r of training) {
    const ratio = r.torchloopSync / Math.max(r.pythonScripted, r.pythonEager);
    checks.push({ model: r.model, what: `training samples/s vs PyTorch's best (${r.threads} thread${r.threads > 1 ? 's' : ''})`, value: ratio, target: '>= 1.0', ok: ratio >= 1.0 });
  }
}

let data: Awaited<ReturnType<typeof import('./data.ts').dataThroughput>> | null = null;
if (opts.data) {
  const { dataThroughput } = await import('./data.ts');
  console.log('\ndata: spring-chain environment (32 nodes, 200 load steps), SQLite sample database');
  data = await dataThroughput(opts.quick);
  checks.push({ model: 'data', what: '2 workers / 1 worker samples per second', value: data.workerSpeedup, target: '>= 1.7', ok: data.workerSpeedup >= 1.7 });
  checks.push({ model: 'data', what: 'database writes per second (small samples)', value: data.writesPerSecond, target: '>= 100000', ok: data.writesPerSecond >= 100_000 });
  checks.push({ model: 'data', what: 'random batches of 256 read per second', value: data.batchesReadPerSecond, target: '>= 300', ok: data.batchesReadPerSecond >= 300 });
}
let beamData: Awaited<ReturnType<typeof import('./beam.ts').beamData>> | null = null;
if (opts.data) {
  console.log('\ndata: the MuJoCo beam (72 nodes, stepped until settled): WASM MuJoCo in Node workers, the pip wheel in Python clients over NATS');
  beamData = await (await import('./beam.ts')).beamData(opts.quick, BUILDS[0].python());
}

let sim: Awaited<ReturnType<typeof import('./sim.ts').simBench>> = null;
if (opts.sim) {
  const { simBench } = await import('./sim.ts');
  sim = await simBench({ quick: opts.quick, python: BUILDS[0].python() });
  if (sim) checks.push(...sim.checks);
}

let pipeline: Awaited<ReturnType<typeof import('./pipeline.ts').pipelineOverhead>> | null = null;
if (opts.pipeline) {
  const { pipelineOverhead } = await import('./pipeline.ts');
  console.log('\ntraining pipeline vs a bare Trainer loop (MLP 16-256-256-16, 40 batches of 64 per epoch)');
  pipeline = await pipelineOverhead(opts.quick);
  checks.push({ model: 'pipeline', what: 'time per epoch, pipeline / bare Trainer loop', value: pipeline.ratio, target: '<= 1.1', ok: pipeline.ratio <= 1.1 });
}
let beamPipeline: Awaited<ReturnType<typeof import('./beam.ts').beamPipeline>> | null = null;
if (opts.pipeline) {
  console.log('\npipeline: demo/learn/beam.yaml (generate, train to a mean displacement error under 5%, predict beside the solver)');
  beamPipeline = await (await import('./beam.ts')).beamPipeline(opts.quick);
  if (!opts.quick) checks.push({ model: 'beam', what: 'mean displacement error after training (fraction of the max)', value: beamPipeline.finalMeanError, target: '< 0.05', ok: beamPipeline.finalMeanError < 0.05 });
}

// --- report ---------------------------------------------------------------------------
const fmt = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`).padStart(10);
if (steps) {
  console.log(`\nper-step latency (threads 1)\n  ${steps.header.join('\n  ')}`);
  for (const spec of SPECS.filter((s) => models.includes(s.id))) {
    console.log(`\n${spec.title}`);
    console.log(`  ${'who'.padEnd(20)} ${'path'.padEnd(24)} ${'p50'.padStart(10)}  ${'p99'.padStart(10)}  ${'max'.padStart(10)}   p50 vs 2.13 entity`);
    const rows = steps.rows.filter((r) => r.model === spec.id);
    const ref = rows.find((r) => r.path.startsWith('TorchEntity'))!.summary.p50;
    for (const r of rows) {
      console.log(`  ${r.who.padEnd(20)} ${r.path.padEnd(24)} ${fmt(r.summary.p50)}  ${fmt(r.summary.p99)}  ${fmt(r.summary.max)}   ${(r.summary.p50 / ref).toFixed(2)}x`);
    }
  }
}
if (zoo) {
  const { printZoo } = await import('./zoo.ts');
  printZoo(zoo.rows);
}
if (training.length) {
  console.log('\ntraining, samples/s     batch  threads   torchloop   (async)   PyTorch scripted   PyTorch eager');
  for (const r of training) {
    console.log(`  ${r.model.padEnd(22)} ${String(r.batch).padStart(5)}  ${String(r.threads).padStart(7)}  ${r.torchloopSync.toFixed(0).padStart(10)}  ${r.torchloopAsync.toFixed(0).padStart(8)}  ${r.pythonScripted.toFixed(0).padStart(17)}  ${r.pythonEager.toFixed(0).padStart(14)}`);
  }
}
if (data) {
  console.log('\ndata generation, samples/s: ' + Object.entries(data.samplesPerSecond).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ') + `; 2 workers / 1 worker ${data.workerSpeedup.toFixed(2)}x`);
  console.log(`sample database: ${data.writesPerSecond.toFixed(0)} writes/s (4 + 1 floats per sample), ${data.batchesReadPerSecond.toFixed(0)} shuffled batches of 256 read/s`);
}
if (beamData) {
  console.log('\nbeam samples/s: ' + Object.entries(beamData.samplesPerSecond).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', '));
}
if (beamPipeline) {
  const b = beamPipeline;
  console.log(`beam pipeline: ${b.samples} samples generated in ${b.generateSeconds.toFixed(1)} s; training ${b.secondsTo5Percent === null ? 'never reached a 5% mean error' : `reached a mean error under 5% after ${b.epochsTo5Percent} epochs, ${b.secondsTo5Percent.toFixed(1)} s`}; after ${b.epochs} epochs (${b.trainSeconds.toFixed(1)} s) mean ${(100 * b.finalMeanError).toFixed(2)}%, max ${(100 * b.finalMaxError).toFixed(2)}%`);
  console.log(`beam prediction: network ${b.networkMs.toFixed(3)} ms per sample, solver ${b.solverMs.toFixed(1)} ms to settle: speed-up x${b.speedup.toFixed(0)}`);
}
if (pipeline) {
  console.log(`training pipeline: ${(pipeline.pipelineSecondsPerEpoch * 1000).toFixed(1)} ms/epoch against ${(pipeline.bareSecondsPerEpoch * 1000).toFixed(1)} ms for a bare Trainer loop (${pipeline.ratio.toFixed(3)}x)`);
}
if (sim) {
  const { printSim } = await import('./sim.ts');
  printSim(sim);
}
console.log('\ntargets');
for (const c of checks) console.log(`  ${c.ok ? 'met ' : 'MISS'}  ${c.model} ${c.what}: ${c.value.toFixed(3)} (target ${c.target})`);

writeFileSync(path.join(outDir, 'bench.json'), JSON.stringify({
  date: new Date().toISOString(),
  machine: { cpu, cpus: os.cpus().length, node: process.version, openblasCoretype: process.env.OPENBLAS_CORETYPE },
  version,
  quick: opts.quick,
  header: steps?.header,
  rows: steps?.rows.map(({ model, who, path: p, summary }) => ({ model, who, path: p, ...summary })),
  training,
  data,
  beamData,
  pipeline,
  beamPipeline,
  zoo: zoo?.rows,
  loop: loop?.rows,
  sim: sim && { rows: sim.rows.map(({ what, node, python, native, ratio }) => ({ what, node, python, native, ratio })), realtimeFactor: sim.rtf, threads: sim.threads, rounds: sim.rounds, seconds: sim.seconds },
  targets: checks,
  notes: steps?.notes,
}, null, 2));
if (steps) {
  const pics = writeHistograms(path.join(outDir, 'latency.svg'), SPECS.filter((s) => models.includes(s.id)).map((s) => ({
    title: s.title,
    series: steps.rows.filter((r) => r.model === s.id).map((r) => ({ name: `${r.who}: ${r.path}`, samples: r.samples })),
  })));
  console.log(`\nwrote ${path.relative(root, path.join(outDir, 'bench.json'))}, ${pics.map((p) => path.relative(root, p)).join(', ')}`);
}
