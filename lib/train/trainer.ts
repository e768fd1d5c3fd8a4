import { TorchError, expected } from '../errors.ts';
import type { Model } from '../model.ts';
import type { NativeTrainer } from '../native.ts';
import type { ProcessGroup } from './distributed.ts';
import type { Tensor, TypedArray } from '../tensor.ts';

/** Losses built in; `method:<name>` uses a TorchScript method of the model, `loss(pred, target) -> Tensor`. */
export type LossName = 'mse' | 'l1' | 'smooth_l1' | 'huber' | 'cross_entropy' | 'bce_with_logits' | `method:${string}`;

export interface TrainerOptions {
  optimizer?: 'sgd' | 'adam' | 'adamw' | 'rmsprop';
  lr?: number;
  /** sgd and rmsprop. */
  momentum?: number;
  nesterov?: boolean;
  dampening?: number;
  /** adam and adamw: [beta1, beta2]. */
  betas?: [number, number];
  eps?: number;
  /** rmsprop's smoothing constant. */
  alpha?: number;
  /** L2 penalty (sgd, adam, rmsprop) or decoupled decay (adamw, default 0.01 as in PyTorch). */
  weightDecay?: number;
  amsgrad?: boolean;
  loss?: LossName;
  /** smooth_l1's beta or huber's delta. */
  lossBeta?: number;
  /** The method trained (default `forward`). */
  method?: string;
  /** Clip the gradients' total norm before each update (0: off). */
  clipNorm?: number;
  /** Clip each gradient value to [-clipValue, clipValue] (0: off). */
  clipValue?: number;
  /** Micro-batches whose gradients are summed (each scaled by 1/accumulate) per update. */
  accumulate?: number;
  /** Learning-rate schedule over optimizer updates: StepLR or CosineAnnealingLR's closed form. */
  schedule?: { kind: 'step'; stepSize: number; gamma?: number } | { kind: 'cosine'; tMax: number; etaMin?: number } | { kind: 'none' };
  /** Restore the optimizer state saved with the model, when there is one (default true). */
  resume?: boolean;
  /** Keep a copy of the gradients of the last update (for histograms; costs a copy per update). */
  keepGradients?: boolean;
}

type Input = Tensor | TypedArray | unknown;

/**
 * Trains a Model (loaded or authored) with libtorch's optimizers. `step()` runs forward,
 * loss, backward and the update on a worker thread and resolves to the loss.
 *
 * @example
 * const trainer = new Trainer(model, { optimizer: 'adam', lr: 1e-3, loss: 'mse' });
 * const loss = await trainer.step([x], y);
 * trainer.save('trained.pt');   // TorchScript, with the optimizer state inside
 */
export class Trainer implements Disposable {
  readonly model: Model;
  #native: NativeTrainer;

  constructor(model: Model, options: TrainerOptions = {}) {
    this.model = model;
    const { betas, schedule, resume, ...rest } = options;
    const config: Record<string, unknown> = { ...rest };
    if (betas !== undefined) {
      if (!Array.isArray(betas) || betas.length !== 2) expected('ERR_ARGUMENT', '[beta1, beta2]', 'betas', betas);
      config.beta1 = betas[0];
      config.beta2 = betas[1];
    }
    if (options.optimizer === 'adamw' && options.weightDecay === undefined) config.weightDecay = 0.01;
    if (schedule && schedule.kind !== 'none') {
      config.schedule = schedule.kind;
      if (schedule.kind === 'step') Object.assign(config, { stepSize: schedule.stepSize, gamma: schedule.gamma ?? 0.1 });
      else if (schedule.kind === 'cosine') Object.assign(config, { tMax: schedule.tMax, etaMin: schedule.etaMin ?? 0 });
      else expected('ERR_ARGUMENT', "{ kind: 'step' | 'cosine' | 'none' }", 'schedule', schedule);
    }
    this.#native = model.createTrainer(config, resume ?? true);
  }

  /** Forward, loss, backward and (every `accumulate` calls) the update, on a worker thread. Resolves to the loss. */
  step(inputs: Input[], target: Input): Promise<number> {
    if (!Array.isArray(inputs)) return Promise.reject(new TorchError('ERR_ARGUMENT', 'Expected an array of inputs for step()'));
    try {
      return this.#native.step(inputs, target);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** step() on the calling thread. */
  stepSync(inputs: Input[], target: Input): number {
    if (!Array.isArray(inputs)) expected('ERR_ARGUMENT', 'an array of inputs', 'stepSync()', inputs);
    return this.#native.stepSync(inputs, target);
  }

  /** The loss without gradients, on a worker thread. */
  evaluate(inputs: Input[], target: Input): Promise<number> {
    try {
      return this.#native.evaluate(inputs, target);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  evaluateSync(inputs: Input[], target: Input): number {
    return this.#native.evaluateSync(inputs, target);
  }

  /** The current learning rate (after the schedule). */
  get lr(): number {
    return this.#native.info().lr;
  }

  /** Optimizer updates so far (restored from a saved model). */
  get optimizerSteps(): number {
    return this.#native.info().optimizerSteps;
  }

  /** Whether the optimizer state saved with the model was restored. */
  get restored(): boolean {
    return this.#native.info().restored;
  }

  /** Gradients of the last optimizer update by parameter name (needs keepGradients). */
  gradients(): Record<string, Tensor> {
    return this.#native.gradients();
  }

  /**
   * Data-parallel training (as PyTorch's DistributedDataParallel): broadcasts rank 0's
   * parameters and buffers to every rank, then averages each update's gradients across the
   * group with c10d's Reducer, in buckets all-reduced while backward still runs. Each rank
   * then steps on its own shard of the batch; step() resolves to the loss averaged over the
   * group. Returns the buckets as parameter names (last layer first).
   */
  attach(group: ProcessGroup, options: { bucketCapMB?: number } = {}): string[][] {
    const mb = options.bucketCapMB ?? 25;
    if (!(mb > 0)) expected('ERR_ARGUMENT', 'a positive bucketCapMB', 'attach', mb);
    return this.#native.attach(group.native, Math.round(mb * 1024 * 1024));
  }

  /** Saves the model as TorchScript with the optimizer state in the archive (torch.jit.load ignores it). */
  save(path: string): void {
    if (typeof path !== 'string') expected('ERR_ARGUMENT', 'a path', 'save', path);
    this.#native.save(path);
  }

  dispose(): void {
    this.#native.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
