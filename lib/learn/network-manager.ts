import { TorchError } from '../errors.ts';
import { Model } from '../model.ts';
import { Tensor } from '../tensor.ts';
import { Trainer, type TrainerOptions } from '../train/trainer.ts';
import type { Normalization } from '../data/database.ts';
import type { FieldValues } from '../data/fields.ts';

/** DeepPhysX's DataTransformation: hooks around the network, written in TypeScript. */
export interface DataTransformation {
  /** The network's input, after normalization, before forward. */
  beforePrediction?(input: Tensor): Tensor;
  /** Prediction and target before the loss (both normalized when normalization is on). */
  beforeLoss?(prediction: Tensor, target: Tensor): [Tensor, Tensor];
  /** A prediction (denormalized) before the environment receives it. */
  beforeApply?(prediction: Tensor): Tensor;
}

export interface NetworkManagerOptions {
  model: Model;
  input: string;
  target: string;
  trainer?: TrainerOptions;
  /** Per-field statistics (from the database) applied to inputs and targets; predictions are mapped back. */
  normalization?: Record<string, Normalization> | null;
  transformation?: DataTransformation;
}

function normalize(data: ArrayLike<number>, n: Normalization | undefined, inverse = false): Float32Array {
  const out = Float32Array.from(data as ArrayLike<number>);
  if (!n || n.std === 0) return out;
  for (let i = 0; i < out.length; i++) out[i] = inverse ? out[i] * n.std + n.mean : (out[i] - n.mean) / n.std;
  return out;
}

/**
 * Holds the network (loaded .pt or authored), its Trainer, the database's normalization and
 * the DataTransformation hooks; turns batches of fields into tensors and back.
 */
export class NetworkManager implements Disposable {
  readonly model: Model;
  readonly trainer: Trainer | null;
  readonly options: NetworkManagerOptions;

  constructor(options: NetworkManagerOptions) {
    this.options = options;
    this.model = options.model;
    this.trainer = options.trainer ? new Trainer(options.model, options.trainer) : null;
  }

  #field(values: FieldValues, name: string): ArrayLike<number> {
    const a = values[name];
    if (!a) throw new TorchError('ERR_ARGUMENT', `The batch has no field '${name}' (fields: ${Object.keys(values).join(', ')})`);
    return a as Float32Array;
  }

  /** The network's input: normalized, then through beforePrediction. */
  #input(values: FieldValues, size: number): Tensor {
    const xs = normalize(this.#field(values, this.options.input), this.options.normalization?.[this.options.input]);
    const input = new Tensor(xs, [size, xs.length / size]);
    return this.options.transformation?.beforePrediction ? this.options.transformation.beforePrediction(input) : input;
  }

  #tensors(values: FieldValues, size: number): [Tensor, Tensor] {
    const ys = normalize(this.#field(values, this.options.target), this.options.normalization?.[this.options.target]);
    return [this.#input(values, size), new Tensor(ys, [size, ys.length / size])];
  }

  /** One training step on a batch; returns the loss. */
  async train(values: FieldValues, size: number, async = false): Promise<number> {
    if (!this.trainer) throw new TorchError('ERR_ARGUMENT', 'This NetworkManager has no trainer');
    const [x, y] = this.#tensors(values, size);
    if (this.options.transformation?.beforeLoss) {
      // A custom transformation before the loss needs the prediction in JS: run forward here.
      const [, target] = this.options.transformation.beforeLoss(this.model.forwardSync(x), y);
      return async ? this.trainer.step([x], target) : this.trainer.stepSync([x], target);
    }
    return async ? this.trainer.step([x], y) : this.trainer.stepSync([x], y);
  }

  /** The loss without gradients. */
  evaluate(values: FieldValues, size: number): number {
    if (!this.trainer) throw new TorchError('ERR_ARGUMENT', 'This NetworkManager has no trainer');
    const [x, y] = this.#tensors(values, size);
    return this.trainer.evaluateSync([x], y);
  }

  /** Predicts the target field for a batch, denormalized (and through beforeApply). */
  predict(values: FieldValues, size: number): Tensor {
    const out: Tensor = this.model.forwardSync(this.#input(values, size));
    let pred = new Tensor(normalize(out.data as Float32Array, this.options.normalization?.[this.options.target], true), out.shape);
    if (this.options.transformation?.beforeApply) pred = this.options.transformation.beforeApply(pred);
    return pred;
  }

  dispose(): void {
    this.trainer?.dispose();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }
}
