/**
 * `npm run demo:learn`: DeepPhysX's beam demo, end to end, on MuJoCo (demo/learn/beam.yaml).
 *   1. generate samples with the beam in 2 worker threads, each with its own MuJoCo;
 *   2. train a fully connected network (forces -> displacements) with validation,
 *      checkpoints, statistics and plots;
 *   3. run the network and the solver side by side on new forces: the error and the speed-up,
 *      on a live page (http://127.0.0.1:...);
 *   4. print where the plots and TensorBoard files are.
 *
 *   npm run demo:learn -- [--serve] [--config demo/learn/spring-chain.yaml] [any --section.key value]
 *
 * --serve keeps the prediction page up after the run (Ctrl-C ends it).
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { DataGeneration, TrainingPipeline, loadExperiment, runEvaluation, runPrediction, writeResolved } from '../../lib/index.ts';
import { environmentSource } from '../../lib/learn/config.ts';
import { PredictionPage, gridEdges } from '../../lib/learn/prediction-page.ts';
import { splitOverrides } from '../../lib/cli/main.ts';

const { overrides, rest } = splitOverrides(process.argv.slice(2));
const serve = rest.includes('--serve');
const configAt = rest.indexOf('--config');
const config = configAt >= 0 ? path.resolve(rest[configAt + 1]) : path.join(import.meta.dirname, 'beam.yaml');
const exp = loadExperiment(config, overrides);
const dataset = path.resolve(exp.baseDir, exp.database.file);
const output = path.resolve(exp.baseDir, exp.output);
rmSync(dataset, { force: true });
rmSync(output, { recursive: true, force: true });
writeResolved(exp);
const target = exp.network.target;

console.log(`1. generating ${exp.training.batchesPerEpoch} x ${exp.training.batchSize} samples (${exp.environment.module}, ${exp.environment.workers} workers)`);
const gen = await new DataGeneration({
  environment: environmentSource(exp),
  environmentOptions: exp.environment.options,
  workers: exp.environment.workers,
  seed: exp.seed,
  database: dataset,
  batchNb: exp.training.batchesPerEpoch,
  batchSize: exp.training.batchSize,
}).execute();
console.log(`   ${gen.samples} samples, ${gen.samplesPerSecond.toFixed(1)} samples/s, ${gen.rejected} rejected -> ${path.relative(process.cwd(), dataset)}`);

console.log(`2. training ${exp.network.mlp?.sizes.join('-')} (${exp.network.mlp?.activation}) for up to ${exp.training.epochs} epochs`);
const t0 = performance.now();
const report = await new TrainingPipeline(exp).execute();
const trainSeconds = (performance.now() - t0) / 1000;
console.log(`   ${report.epochs} epochs${report.stoppedEarly ? ' (early stop)' : ''} in ${trainSeconds.toFixed(1)} s, best validation loss ${report.bestValLoss?.toExponential(3)} (normalized)`);
const best = path.join(report.output, exp.checkpoint.dir, 'best.pt');
const metrics = await runEvaluation(exp, best);
console.log(`   held-out ${metrics.samples} values: MAE ${metrics.mae.toExponential(3)}, max ${metrics.max.toExponential(3)} (m)`);

console.log(`3. the network and the solver side by side on ${exp.prediction.steps} new loads`);
const page = new PredictionPage(0);
console.log(`   live page: ${await page.url}`);
const pred = await runPrediction(exp, best, {
  onStart: (env) => {
    const e = env as { rest?: Float64Array; params?: { spacing: number } };
    if (e.rest && e.params) page.init({ name: exp.name, rest: e.rest, edges: gridEdges(e.rest, e.params.spacing), scale: 3, units: 'm', history: report.history });
  },
  onPrediction: (f) => page.frame(f),
});
console.log(`   ${target} error per prediction: mean ${(100 * pred.meanError).toFixed(2)}%, max ${(100 * pred.maxError).toFixed(2)}% of the largest displacement (worst ${(100 * pred.worstError).toFixed(1)}%); RMS ${pred.rmse.toExponential(3)} m`);
console.log(`   time per sample: network ${pred.networkMs.toFixed(3)} ms, solver ${pred.solverMs.toFixed(1)} ms: speed-up x${pred.speedup.toFixed(0)}`);

console.log('4. outputs');
for (const f of [...report.plots, path.join(report.output, 'stats.csv'), path.join(report.output, 'config.resolved.yaml')]) console.log(`   ${path.relative(process.cwd(), f)}`);
console.log(`   TensorBoard: tensorboard --logdir ${path.relative(process.cwd(), report.output)}`);
if (serve) {
  console.log(`   serving ${await page.url} until Ctrl-C`);
  process.on('SIGINT', () => page.close().then(() => process.exit(0)));
  setInterval(() => {}, 1 << 30);
} else await page.close();
