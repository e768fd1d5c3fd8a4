import { TorchError, describe } from '../errors.ts';

/** Element types a sample field can hold. */
export type FieldDtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8';
export type FieldArray = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface FieldSpec {
  name: string;
  shape: number[];
  dtype?: FieldDtype;
}

/** A field as stored: spec plus its kind and size. */
export interface Field {
  name: string;
  shape: number[];
  dtype: FieldDtype;
  kind: 'training' | 'additional';
  size: number;
}

/** Named field values of one sample, or of a batch (then each array holds `size` samples one after another). */
export type FieldValues = Record<string, FieldArray>;

export const ARRAY_FOR: Record<FieldDtype, { new (n: number): FieldArray; BYTES_PER_ELEMENT: number }> = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
};

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function makeField(spec: FieldSpec, kind: Field['kind']): Field {
  if (!spec || typeof spec.name !== 'string' || !NAME.test(spec.name)) {
    throw new TorchError('ERR_ARGUMENT', `Expected a field name of letters, digits and _ but received ${describe(spec?.name)}`);
  }
  if (!Array.isArray(spec.shape) || spec.shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new TorchError('ERR_SHAPE', `Expected a shape of positive integers for field '${spec.name}' but received ${describe(spec.shape)}`);
  }
  const dtype = spec.dtype ?? 'float32';
  if (!(dtype in ARRAY_FOR)) throw new TorchError('ERR_DTYPE', `Expected one of ${Object.keys(ARRAY_FOR).join(', ')} for the dtype of field '${spec.name}' but received ${describe(dtype)}`);
  return { name: spec.name, shape: [...spec.shape], dtype, kind, size: spec.shape.reduce((a, b) => a * b, 1) };
}

/**
 * Checks one sample's value for a field and copies it into `into` at `offset`: the length
 * must be the field's size and every number finite. Errors name the field.
 */
export function writeField(field: Field, value: ArrayLike<number | bigint>, into: FieldArray, offset: number): void {
  if (value === null || typeof value !== 'object' || typeof (value as ArrayLike<number>).length !== 'number') {
    throw new TorchError('ERR_ARGUMENT', `Expected an array or TypedArray for field '${field.name}' but received ${describe(value)}`);
  }
  if (value.length !== field.size) {
    throw new TorchError('ERR_SHAPE', `Expected ${field.size} values for field '${field.name}' (shape [${field.shape.join(', ')}]) but received ${describe(value)}`);
  }
  if (field.dtype === 'int64') {
    for (let i = 0; i < field.size; i++) (into as BigInt64Array)[offset + i] = BigInt(value[i] as number);
    return;
  }
  for (let i = 0; i < field.size; i++) {
    const v = value[i] as number;
    if (!Number.isFinite(v)) {
      throw new TorchError('ERR_ARGUMENT', `Field '${field.name}' has ${Number.isNaN(v) ? 'NaN' : v} at index ${i}: samples must be finite`);
    }
    (into as Float32Array)[offset + i] = v;
  }
}

export function allocate(field: Field, samples: number): FieldArray {
  return new ARRAY_FOR[field.dtype](field.size * samples);
}

/**
 * Errors of a predicted vector field ([nodes * 3]) against the truth: the mean and the max over
 * the nodes of |prediction - truth|, each divided by the largest |truth| (DeepPhysX's measure).
 */
export function nodeErrors(truth: ArrayLike<number>, prediction: ArrayLike<number>, dim = 3): { mean: number; max: number } {
  let scale = 0, sum = 0, worst = 0;
  const n = truth.length / dim;
  for (let v = 0; v < n; v++) {
    let t = 0, e = 0;
    for (let k = 0; k < dim; k++) {
      t += truth[dim * v + k] ** 2;
      e += (Number(prediction[dim * v + k]) - truth[dim * v + k]) ** 2;
    }
    scale = Math.max(scale, Math.sqrt(t));
    sum += Math.sqrt(e);
    worst = Math.max(worst, Math.sqrt(e));
  }
  return scale > 0 ? { mean: sum / n / scale, max: worst / scale } : { mean: 0, max: 0 };
}
