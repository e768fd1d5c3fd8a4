/**
 * `npm run demo:learn`: the learning side end to end, on the spring-chain environment.
 *   1. generate samples with the environment in 2 worker threads;
 *   2. train a surrogate MLP (loads -> displacements) with validation, checkpoints and stats;
 *   3. run the surrogate in the simulation loop against the true simulation;
 *   4. print the errors and where the plots and TensorBoard files are.
 *
 *   npm run demo:learn -- [--training.epochs 10] [any --section.key value of demo/learn/spring-chain.yaml]
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import { DataGeneration, TrainingPipeline, loadExperiment, runEvaluation, runPrediction, writeResolved } from '../../lib/index.ts';
import { environmentModule } from '../../lib/learn/config.ts';
import { splitOverrides } from '../../lib/cli/main.ts';

const { overrides } = splitOverrides(process.argv.slice(2));
const exp = loadExperiment(path.join(import.meta.dirname, 'spring-chain.yaml'), overrides);
const dataset = path.resolve(exp.baseDir, exp.database.file);
const output = path.resolve(exp.baseDir, exp.output);
rmSync(dataset, { force: true });
rmSync(output, { recursive: true, force: true });
writeResolved(exp);

console.log(`1. generating ${exp.training.batchesPerEpoch} x ${exp.training.batchSize} samples (${exp.environment.workers} workers)`);
const gen = await new DataGeneration({
  environment: { module: environmentModule(exp), exportName: exp.environment.export },
  environmentOptions: exp.environment.options,
  workers: exp.environment.workers,
  seed: exp.seed,
  database: dataset,
  batchNb: exp.training.batchesPerEpoch,
  batchSize: exp.training.batchSize,
}).execute();
console.log(`   ${gen.samples} samples, ${gen.samplesPerSecond.toFixed(0)} samples/s -> ${path.relative(process.cwd(), dataset)}`);

console.log(`2. training ${exp.network.mlp?.sizes.join('-')} (${exp.network.mlp?.activation}) for up to ${exp.training.epochs} epochs`);
const report = await new TrainingPipeline(exp).execute();
console.log(`   ${report.epochs} epochs${report.stoppedEarly ? ' (early stop)' : ''}, best validation loss ${report.bestValLoss?.toExponential(3)} (normalized), ${report.secondsPerEpoch.toFixed(2)} s/epoch`);
const best = path.join(report.output, exp.checkpoint.dir, 'best.pt');
const metrics = await runEvaluation(exp, best);
console.log(`   held-out ${metrics.samples} values: MSE ${metrics.mse.toExponential(3)}, MAE ${metrics.mae.toExponential(3)}, max ${metrics.max.toExponential(3)} (m)`);

console.log(`3. the surrogate in the simulation loop, ${exp.prediction.steps} steps`);
const pred = await runPrediction(exp, best);
console.log(`   displacement RMS error ${pred.rmse.toExponential(3)} m against the solver (${((100 * pred.rmse) / pred.targetRms).toFixed(1)}% of the displacements' RMS)`);
console.log(`   force residual left by the surrogate ${pred.predictedResidual.toExponential(3)} N (the Newton solver: ${pred.simulatedResidual.toExponential(1)} N)`);
console.log(`   ${pred.steps} predictions in ${(pred.seconds * 1000).toFixed(0)} ms`);

console.log('4. outputs');
for (const f of [...report.plots, path.join(report.output, 'stats.csv'), path.join(report.output, 'config.resolved.yaml')]) console.log(`   ${path.relative(process.cwd(), f)}`);
console.log(`   TensorBoard: tensorboard --logdir ${path.relative(process.cwd(), report.output)}`);
