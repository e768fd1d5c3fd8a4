import path from 'node:path';
import { TorchError } from '../errors.ts';
import { Model } from '../model.ts';
import { manualSeed } from '../runtime.ts';
import { nn } from '../train/nn.ts';
import type { TrainerOptions } from '../train/trainer.ts';
import { DataManager } from '../data/data-manager.ts';
import { DatabaseManager, type Mode, type Normalization } from '../data/database.ts';
import { EnvironmentManager } from '../data/environment-manager.ts';
import type { FieldValues } from '../data/fields.ts';
import { ProgressBar } from '../data/progress.ts';
import { loadCheckpoint, saveCheckpoint, type CheckpointState } from './checkpoint.ts';
import { environmentSource, resolvePath, writeResolved, type Experiment } from './config.ts';
import { NetworkManager, type DataTransformation } from './network-manager.ts';
import { StatsManager, type EpochRecord } from './stats.ts';
import { notifyRun, writeRunInfo } from './run-info.ts';
import { ProcessGroup } from '../train/distributed.ts';
import { shard, type RankInfo } from './data-parallel.ts';

export interface TrainingHooks {
  onEpochStart?(epoch: number): void | Promise<void>;
  onBatchEnd?(epoch: number, batch: number, loss: number): void | Promise<void>;
  onEpochEnd?(record: EpochRecord): void | Promise<void>;
}

export interface TrainingReport {
  epochs: number;
  lastEpoch: number;
  stoppedEarly: boolean;
  bestValLoss: number | null;
  history: EpochRecord[];
  output: string;
  checkpoints: string[];
  plots: string[];
  secondsPerEpoch: number;
}

export function environmentsFor(exp: Experiment, workers = exp.environment.workers): EnvironmentManager {
  return new EnvironmentManager({
    environment: environmentSource(exp),
    workers,
    seed: exp.seed,
    simulationsPerStep: exp.environment.simulationsPerStep,
    maxWrongSamplesPerStep: exp.environment.maxWrongSamplesPerStep,
    environmentOptions: exp.environment.options,
  });
}

function trainerOptions(exp: Experiment): TrainerOptions {
  const o = exp.optimizer;
  return {
    optimizer: o.kind,
    lr: o.lr,
    momentum: o.kind === 'sgd' || o.kind === 'rmsprop' ? o.momentum : undefined,
    weightDecay: o.weightDecay,
    betas: o.kind === 'adam' || o.kind === 'adamw' ? o.betas : undefined,
    clipNorm: o.clipNorm,
    loss: exp.training.loss,
    schedule: o.schedule === 'step' ? { kind: 'step', stepSize: o.stepSize, gamma: o.gamma } : o.schedule === 'cosine' ? { kind: 'cosine', tMax: exp.training.epochs * exp.training.batchesPerEpoch } : { kind: 'none' },
  };
}

/** The network an experiment names: a .pt file, or an MLP built from the config (seeded). */
export function buildNetwork(exp: Experiment): Model {
  if (exp.network.file) return Model.loadSync(resolvePath(exp, exp.network.file));
  if (exp.network.mlp) return nn.mlp(exp.network.mlp.sizes, { activation: exp.network.mlp.activation, seed: exp.seed });
  throw new TorchError('ERR_ARGUMENT', "The config's network needs a file or an mlp section");
}

export function openDatabase(exp: Experiment, fields?: EnvironmentManager['fields']): DatabaseManager {
  return DatabaseManager.open(resolvePath(exp, exp.database.file), fields && fields.length ? { fields } : {});
}

export function sizeOf(values: FieldValues, db: DatabaseManager): number {
  const f = db.fields[0];
  return values[f.name].length / f.size;
}

/**
 * Training (DeepPhysX's training pipeline, MI-Prometheus's trainer worker): epochs x batches
 * from the database or from environments online, validation every N epochs, early
 * stopping, hooks, statistics and checkpoints; `resume` continues from a checkpoint exactly.
 */
export class TrainingPipeline {
  readonly exp: Experiment;
  readonly options: {
    hooks?: TrainingHooks;
    transformation?: DataTransformation;
    resume?: string;
    progress?: boolean;
    /**
     * One rank of a data-parallel run (`torchloop train --nproc N` starts them): the model is
     * trained by every rank on its shard of each batch, gradients averaged by c10d; only
     * rank 0 writes statistics, checkpoints and the run's files. The database must hold the
     * samples (the launcher produces them first).
     */
    rank?: RankInfo;
  };

  constructor(exp: Experiment, options: TrainingPipeline['options'] = {}) {
    this.exp = exp;
    this.options = options;
  }

  /**
   * Runs the training. The run folder gets the resolved config, info.json/info.txt (versions,
   * machine, seed, the project's git commit), the stats, checkpoints and plots; `notify` is
   * told when the run ends or fails.
   */
  async execute(): Promise<TrainingReport> {
    const exp = this.exp;
    const out = resolvePath(exp, exp.output);
    const lead = (this.options.rank?.rank ?? 0) === 0;
    try {
      const report = await this.#run(out);
      if (lead) await notifyRun(exp.notify, { name: exp.name, status: 'finished', output: out, epochs: report.epochs });
      return report;
    } catch (e) {
      if (lead) await notifyRun(exp.notify, { name: exp.name, status: 'failed', output: out, error: (e as Error)?.message ?? String(e) });
      throw e;
    }
  }

  async #run(out: string): Promise<TrainingReport> {
    const exp = this.exp;
    const rank = this.options.rank;
    const lead = (rank?.rank ?? 0) === 0;
    if (rank && exp.database.source === 'always-produce') {
      throw new TorchError('ERR_ARGUMENT', "Data-parallel training reads its batches from the database: use database.source 'load' or 'generate-then-reload' (the launcher then generates an epoch first)");
    }
    if (rank && exp.training.batchSize % rank.worldSize !== 0) {
      throw new TorchError('ERR_ARGUMENT', `training.batchSize (${exp.training.batchSize}) must be a multiple of the number of processes (${rank.worldSize}): each takes an equal shard of every batch`);
    }
    if (lead) {
      writeResolved(exp);
      writeRunInfo(out, exp.baseDir, exp.seed, exp.name);
    }
    manualSeed(exp.seed);
    // Ranks join before touching data, so that a missing rank fails fast.
    const group = rank ? await ProcessGroup.connect({ rank: rank.rank, worldSize: rank.worldSize, master: rank.master, timeoutMs: rank.timeoutMs }) : null;
    const needEnvs = !rank && exp.database.source !== 'load';
    const envs = needEnvs || (!rank && exp.validation.samples > 0) ? environmentsFor(exp) : null;
    let envsStarted = false;
    const startEnvs = async () => {
      if (envs && !envsStarted) {
        await envs.start();
        envsStarted = true;
      }
    };
    if (needEnvs) await startEnvs();
    const db = openDatabase(exp, envs && envsStarted ? envs.fields : undefined);
    const checkpoints: string[] = [];
    const stats = lead
      ? new StatsManager({ dir: out, tensorboard: exp.stats.tensorboard, csv: exp.stats.csv, plots: exp.stats.plots, window: exp.stats.window, layout: exp.stats.layout, live: exp.stats.live, lossLabel: `loss (${exp.training.loss.toUpperCase().replace('_', ' ')}${exp.network.normalize ? ' of normalized fields' : ''})` })
      : new StatsManager({ dir: out, tensorboard: false, csv: false, plots: false, window: exp.stats.window, layout: exp.stats.layout, live: null });
    stats.liveUrl().then((url) => url && process.stderr.write(`live curves: ${url}\n`));
    let network: NetworkManager | null = null;
    try {
      // Held-out data for validation, produced once (the same environments, its own mode).
      const missing = exp.validation.samples - db.count('validation');
      if (missing > 0 && rank) {
        throw new TorchError('ERR_NOT_FOUND', `${db.file} holds ${db.count('validation')} validation samples, the config asks for ${exp.validation.samples}: the launcher (torchloop train --nproc) generates them before the ranks start`);
      }
      if (missing > 0) {
        await startEnvs();
        if (!envs) throw new TorchError('ERR_ARGUMENT', 'Validation needs samples: generate them or give the environment');
        for (let left = missing; left > 0; ) {
          const b = await envs.getBatch(Math.min(256, left));
          db.add('validation', b.values, b.size);
          left -= b.size;
        }
      }

      // Resume or start.
      let state: CheckpointState | null = null;
      let model: Model;
      if (this.options.resume) {
        const loaded = await loadCheckpoint(this.options.resume);
        model = loaded.model;
        state = loaded.state;
        if (!state) throw new TorchError('ERR_ARGUMENT', `'${this.options.resume}' has no checkpoint state (.json) beside it`);
        stats.restore(state.history, state.step, state.windows);
        // The checkpoint's optimizer settings win: a resumed run continues the one it comes from.
        const saved = state.config.optimizer.lr;
        if (saved !== exp.optimizer.lr && lead) {
          process.stderr.write(`resuming with the checkpoint's learning rate ${saved} (the config says ${exp.optimizer.lr}; the schedule continues from the checkpoint)\n`);
          exp.optimizer.lr = saved;
        }
        if (state.epoch + 1 >= exp.training.epochs && lead) {
          process.stderr.write(`the checkpoint has run ${state.epoch + 1} epoch(s), training.epochs is ${exp.training.epochs}: nothing left to train (raise training.epochs to continue)\n`);
        }
      } else {
        model = buildNetwork(exp);
      }
      const normalization: Record<string, Normalization> | null = !exp.network.normalize
        ? null
        : state?.normalization ?? (db.count('training') > 0 ? db.normalization('training') : db.count('validation') > 0 ? db.normalization('validation') : null);
      network = new NetworkManager({ model, input: exp.network.input, target: exp.network.target, normalization, transformation: this.options.transformation, trainer: { ...trainerOptions(exp), resume: !!state, keepGradients: lead && exp.stats.histogramsEvery > 0 } });
      if (group) network.trainer!.attach(group, { bucketCapMB: exp.distributed.bucketCapMB });
      if (rank && db.count('training') < exp.training.batchSize) {
        throw new TorchError('ERR_NOT_FOUND', `${db.file} holds ${db.count('training')} training samples, fewer than one batch: generate them first (the launcher does for generate-then-reload)`);
      }

      // A database that already holds an epoch's samples is reused.
      const reuse = exp.database.source === 'generate-then-reload' && db.count('training') >= exp.training.batchSize * exp.training.batchesPerEpoch;
      const data = new DataManager({
        source: reuse || rank ? 'load' : exp.database.source,
        database: db,
        environments: envsStarted ? envs! : undefined,
        batchSize: exp.training.batchSize,
        batchesPerEpoch: exp.training.batchesPerEpoch,
        seed: exp.seed,
      });

      let best = state?.bestValLoss ?? null;
      let patience = state?.epochsWithoutImprovement ?? 0;
      let stoppedEarly = false;
      const first = state ? state.epoch + 1 : 0;
      const bar = new ProgressBar('training', exp.training.epochs, lead && (this.options.progress ?? true));
      const t0 = performance.now();
      let lastEpoch = first - 1;
      for (let epoch = first; epoch < exp.training.epochs; epoch++) {
        const e0 = performance.now();
        await this.options.hooks?.onEpochStart?.(epoch);
        let sum = 0, batches = 0;
        for await (const whole of data.epoch(epoch)) {
          const batch = rank ? shard(whole, db.fields, rank) : whole;
          const loss = await network.train(batch.values, batch.size, exp.training.async);
          stats.batch(loss);
          sum += loss;
          batches++;
          await this.options.hooks?.onBatchEnd?.(epoch, batches - 1, loss);
        }
        let valLoss: number | null = null;
        if (exp.validation.samples > 0 && (epoch + 1) % exp.validation.every === 0) {
          let vs = 0, vn = 0;
          for (const all of db.batches('validation', 256, { shuffle: false })) {
            // Data-parallel: each rank evaluates its shard; the sums are added across the group.
            const { values, size: n } = rank ? shard({ values: all, size: sizeOf(all, db), rejected: 0 }, db.fields, rank) : { values: all, size: sizeOf(all, db) };
            if (n > 0) vs += network.evaluate(values, n) * n;
            vn += n;
          }
          if (group) [vs, vn] = group.mean([vs, vn]).map((v) => v * group.worldSize);
          valLoss = vs / vn;
        }
        if (lead && exp.stats.histogramsEvery > 0 && (epoch + 1) % exp.stats.histogramsEvery === 0) stats.histograms(model, epoch, network.trainer!.gradients());
        const record = stats.epoch({ epoch, loss: sum / Math.max(1, batches), valLoss, lr: network.trainer!.lr, seconds: (performance.now() - e0) / 1000 });
        lastEpoch = epoch;
        let improved = false;
        if (valLoss !== null) {
          const minDelta = exp.training.earlyStopping?.minDelta ?? 0;
          improved = best === null || valLoss < best - minDelta;
          if (improved) {
            best = valLoss;
            patience = 0;
          } else patience++;
        }
        const snapshot = (): CheckpointState => ({ epoch, step: stats.step, bestValLoss: best, epochsWithoutImprovement: patience, normalization, config: exp, history: stats.history, windows: stats.windowState() });
        const dir = path.join(out, exp.checkpoint.dir);
        if (lead && exp.checkpoint.saveFrequency > 0 && (epoch + 1) % exp.checkpoint.saveFrequency === 0) checkpoints.push(saveCheckpoint(dir, `epoch-${epoch + 1}`, network.trainer!, snapshot()));
        if (lead && exp.checkpoint.best && improved) checkpoints.push(saveCheckpoint(dir, 'best', network.trainer!, snapshot()));
        if (lead && exp.checkpoint.last) checkpoints.push(saveCheckpoint(dir, 'last', network.trainer!, snapshot()));
        await this.options.hooks?.onEpochEnd?.(record);
        bar.update(epoch + 1, `epochs, loss ${record.loss.toExponential(3)}${valLoss !== null ? `, val ${valLoss.toExponential(3)}` : ''}`);
        if (exp.training.earlyStopping && patience >= exp.training.earlyStopping.patience) {
          stoppedEarly = true;
          break;
        }
      }
      const ran = lastEpoch - first + 1;
      return {
        epochs: ran,
        lastEpoch,
        stoppedEarly,
        bestValLoss: best,
        history: stats.history,
        output: out,
        checkpoints: [...new Set(checkpoints)],
        plots: stats.close(),
        secondsPerEpoch: ran > 0 ? (performance.now() - t0) / 1000 / ran : 0,
      };
    } finally {
      network?.dispose();
      group?.dispose();
      db.close();
      if (envsStarted) await envs!.close();
    }
  }
}
