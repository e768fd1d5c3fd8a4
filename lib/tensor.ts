import { TorchError, describe, expected } from './errors.ts';

/** Element types that cross between JavaScript and libtorch. */
export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'bool';

/** The TypedArray behind each dtype (float16 and bfloat16 are raw 16-bit patterns). */
export type TypedArray = Float32Array | Float64Array | Uint16Array | Int8Array | Int16Array | Int32Array | BigInt64Array | Uint8Array;

const ARRAY_OF: Record<DType, { new (n: number): TypedArray; name: string }> = {
  float32: Float32Array,
  float64: Float64Array,
  float16: Uint16Array,
  bfloat16: Uint16Array,
  int8: Int8Array,
  int16: Int16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

export const DTYPES = Object.keys(ARRAY_OF) as DType[];

/** The dtype a TypedArray stands for when none is given. */
export function dtypeOfArray(data: ArrayBufferView): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint8Array) return 'uint8';
  if (data instanceof Uint16Array) return 'float16';
  return expected('ERR_DTYPE', 'a Float32Array, Float64Array, Int8/16/32Array, Uint8Array, Uint16Array or BigInt64Array', 'tensor data', data);
}

export function arrayTypeFor(dtype: DType): { new (n: number): TypedArray; name: string } {
  const ctor = ARRAY_OF[dtype];
  if (!ctor) expected('ERR_DTYPE', `one of ${DTYPES.join(', ')}`, 'dtype', dtype);
  return ctor;
}

type Nested = number | boolean | Nested[];

/**
 * A tensor on the JavaScript side: a TypedArray, a shape and a dtype. Tensors passed to a
 * model are read in place by libtorch (no copy); tensors returned by a model own libtorch's
 * memory through their ArrayBuffer.
 *
 * @example
 * const t = new Tensor(new Float32Array(12), [3, 4]);
 * t.dtype; // 'float32'
 */
export class Tensor {
  readonly data: TypedArray;
  readonly shape: readonly number[];
  readonly dtype: DType;

  constructor(data: TypedArray | readonly number[], shape?: readonly number[], dtype?: DType) {
    let array: TypedArray;
    if (Array.isArray(data)) {
      const dt = dtype ?? 'float32';
      const Ctor = arrayTypeFor(dt);
      array = new Ctor(data.length);
      for (let i = 0; i < data.length; i++) {
        (array as unknown as (number | bigint)[])[i] = dt === 'int64' ? BigInt(data[i]) : data[i];
      }
    } else if (ArrayBuffer.isView(data)) {
      array = data as TypedArray;
    } else {
      expected('ERR_ARGUMENT', 'a TypedArray or an array of numbers', 'tensor data', data);
    }
    const dt = dtype ?? dtypeOfArray(array);
    const Ctor = arrayTypeFor(dt);
    if (!(array instanceof Ctor)) expected('ERR_DTYPE', `a ${Ctor.name} (dtype ${dt})`, 'tensor data', array);
    const sh = shape ?? [array.length];
    if (!Array.isArray(sh) || sh.some((d) => !Number.isInteger(d) || d < 0)) {
      expected('ERR_SHAPE', 'an array of non-negative integers', 'tensor shape', sh);
    }
    const numel = sh.reduce((a, b) => a * b, 1);
    if (numel !== array.length) {
      throw new TorchError('ERR_SHAPE', `Expected ${numel} elements for shape [${sh.join(', ')}] but received ${describe(array)}`);
    }
    this.data = array;
    this.shape = Object.freeze([...sh]);
    this.dtype = dt;
  }

  /** A zero-filled tensor. */
  static zeros(shape: readonly number[], dtype: DType = 'float32'): Tensor {
    const Ctor = arrayTypeFor(dtype);
    return new Tensor(new Ctor(shape.reduce((a, b) => a * b, 1)), shape, dtype);
  }

  /** Number of elements. */
  get numel(): number {
    return this.data.length;
  }

  /** The single value of a one-element tensor. */
  item(): number | boolean {
    if (this.data.length !== 1) throw new TorchError('ERR_SHAPE', `item() needs a tensor with one element, this one has ${this.data.length}`);
    return this.toArray() as number | boolean;
  }

  /** Nested plain arrays (int64 values as numbers, bool as booleans). */
  toArray(): Nested {
    const flat = Array.from(this.data as ArrayLike<number | bigint>, (v) =>
      this.dtype === 'bool' ? v !== 0 : typeof v === 'bigint' ? Number(v) : v,
    ) as (number | boolean)[];
    if (this.shape.length === 0) return flat[0];
    const build = (dim: number, offset: number): Nested[] => {
      const size = this.shape[dim];
      const stride = this.shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      const out: Nested[] = [];
      for (let i = 0; i < size; i++) out.push(dim === this.shape.length - 1 ? flat[offset + i] : build(dim + 1, offset + i * stride));
      return out;
    };
    return build(0, 0);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}
