import { TorchError } from '../errors.ts';
import { Random } from './random.ts';
import { allocate, makeField, writeField, type Field, type FieldArray, type FieldSpec, type FieldValues } from './fields.ts';

export interface EnvironmentOptions {
  /** Seeds `this.random`: every environment of a manager gets its own, deterministic. */
  seed?: number;
  /** Free-form options for the subclass. */
  [key: string]: unknown;
}

/** Serves getPrediction(): set by the EnvironmentManager. */
export type Predictor = (input: FieldValues) => Promise<FieldValues>;

/**
 * A simulation that produces samples (DeepPhysX's Environment). Subclass it:
 *
 * @example
 * class Beam extends Environment {
 *   create() { this.defineTrainingFields([{ name: 'loads', shape: [16] }, { name: 'deflection', shape: [16] }]); }
 *   async step() { ...simulate...; this.setTrainingData({ loads, deflection }); }
 * }
 *
 * Lifecycle: create() once, init() once, then step() per sample (checkSample() may reject
 * it), applyPrediction() when a network drives it, close() at the end.
 */
export abstract class Environment {
  readonly seed: number;
  readonly random: Random;
  readonly options: EnvironmentOptions;
  #fields = new Map<string, Field>();
  #values = new Map<string, FieldArray>();
  #written = new Set<string>();
  #predictor: Predictor | null = null;

  constructor(options: EnvironmentOptions = {}) {
    this.options = options;
    this.seed = options.seed ?? 0;
    this.random = new Random(this.seed);
  }

  /** Builds the simulation and defines the fields (called once). */
  create(): void | Promise<void> {}
  /** Initialises state before the first step (called once, after create). */
  init(): void | Promise<void> {}
  /** Computes one sample: simulate, then setTrainingData / setAdditionalData. */
  abstract step(): void | Promise<void>;
  /** Returns false to reject the sample just produced (it is not kept). */
  checkSample(): boolean {
    return true;
  }
  /** Applies a network's prediction to the simulation (prediction pipelines). */
  applyPrediction(prediction: FieldValues): void | Promise<void> {
    void prediction;
  }
  close(): void | Promise<void> {}

  /** Declares the fields a network trains on (inputs and ground truth). */
  defineTrainingFields(fields: FieldSpec[]): void {
    for (const f of fields) this.#define(makeField(f, 'training'));
  }

  /** Declares fields stored beside the training data (metadata, diagnostics). */
  defineAdditionalFields(fields: FieldSpec[]): void {
    for (const f of fields) this.#define(makeField(f, 'additional'));
  }

  setTrainingData(values: Record<string, ArrayLike<number | bigint>>): void {
    this.#set(values, 'training');
  }

  setAdditionalData(values: Record<string, ArrayLike<number | bigint>>): void {
    this.#set(values, 'additional');
  }

  /** Asks the network (served by the manager) for a prediction mid-generation. */
  getPrediction(input: FieldValues): Promise<FieldValues> {
    if (!this.#predictor) return Promise.reject(new TorchError('ERR_ARGUMENT', 'No network serves predictions to this environment: give the manager a predictor'));
    return this.#predictor(input);
  }

  /** The fields, in definition order. */
  get fields(): Field[] {
    return [...this.#fields.values()];
  }

  /** @internal */
  setPredictor(p: Predictor | null): void {
    this.#predictor = p;
  }

  /** @internal Clears what the last sample wrote. */
  beginSample(): void {
    this.#written.clear();
  }

  /** @internal Copies the current sample into batch arrays at position `index`. */
  collect(into: FieldValues, index: number): void {
    for (const f of this.#fields.values()) {
      if (!this.#written.has(f.name)) throw new TorchError('ERR_ARGUMENT', `The sample has no value for field '${f.name}': step() must set every defined field`);
      (into[f.name] as FieldArray & { set(a: ArrayLike<unknown>, o: number): void }).set(this.#values.get(f.name) as never, index * f.size);
    }
  }

  #define(field: Field): void {
    if (this.#fields.has(field.name)) throw new TorchError('ERR_ARGUMENT', `Field '${field.name}' is already defined`);
    this.#fields.set(field.name, field);
    this.#values.set(field.name, allocate(field, 1));
  }

  #set(values: Record<string, ArrayLike<number | bigint>>, kind: Field['kind']): void {
    for (const [name, value] of Object.entries(values)) {
      let field = this.#fields.get(name);
      if (!field) {
        if (this.#fields.size > 0 && [...this.#fields.values()].some((f) => f.kind === kind)) {
          const known = [...this.#fields.values()].filter((f) => f.kind === kind).map((f) => f.name);
          throw new TorchError('ERR_ARGUMENT', `Unknown ${kind} field '${name}' (defined: ${known.join(', ')})`);
        }
        // Not declared: the first write declares it, with the shape of the value.
        field = makeField({ name, shape: [(value as ArrayLike<number>).length ?? 0] }, kind);
        this.#define(field);
      }
      if (field.kind !== kind) throw new TorchError('ERR_ARGUMENT', `Field '${name}' is ${field.kind === 'training' ? 'a training' : 'an additional'} field`);
      writeField(field, value, this.#values.get(name)!, 0);
      this.#written.add(name);
    }
  }
}

/** Produces `count` samples from one environment into fresh batch arrays (the unit a worker sends). */
export async function produce(
  env: Environment,
  count: number,
  options: { simulationsPerStep?: number; maxWrongSamplesPerStep?: number } = {},
): Promise<{ values: FieldValues; rejected: number }> {
  const sims = options.simulationsPerStep ?? 1;
  const maxWrong = options.maxWrongSamplesPerStep ?? 10;
  const values: FieldValues = {};
  for (const f of env.fields) values[f.name] = allocate(f, count);
  let rejected = 0;
  for (let i = 0; i < count; i++) {
    let wrong = 0;
    for (;;) {
      env.beginSample();
      for (let s = 0; s < sims; s++) await env.step();
      if (env.checkSample()) break;
      rejected++;
      if (++wrong > maxWrong) {
        throw new TorchError('ERR_RUNTIME', `The environment rejected ${wrong} samples in a row (maxWrongSamplesPerStep is ${maxWrong})`);
      }
    }
    // Fields declared by their first write (not by define*) appear after step().
    if (Object.keys(values).length !== env.fields.length) for (const f of env.fields) values[f.name] ??= allocate(f, count);
    env.collect(values, i);
  }
  return { values, rejected };
}
