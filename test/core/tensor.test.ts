import { describe, expect, it } from 'vitest';
import { Tensor, TorchError } from '../../lib/index.ts';

describe('Tensor (no model)', () => {
  it('keeps the caller data without copying and infers the dtype', () => {
    const data = new Float32Array(12);
    const t = new Tensor(data, [3, 4]);
    expect(t.data).toBe(data);
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([3, 4]);
    expect(t.numel).toBe(12);
  });

  it('builds typed data from plain numbers for every dtype', () => {
    expect(new Tensor([1, 2], [2], 'int64').data).toBeInstanceOf(BigInt64Array);
    expect(new Tensor([1, 0], [2], 'bool').toArray()).toEqual([true, false]);
    expect(new Tensor([1, 2, 3, 4], [2, 2]).toArray()).toEqual([[1, 2], [3, 4]]);
    expect(new Tensor([7], [], 'int32').item()).toBe(7);
  });

  it('rejects a shape that does not match the data, with a code', () => {
    const err = (() => {
      try {
        new Tensor(new Float32Array(5), [2, 3]);
      } catch (e) {
        return e as TorchError;
      }
    })();
    expect(err).toBeInstanceOf(TorchError);
    expect(err!.code).toBe('ERR_SHAPE');
    expect(err!.message).toMatch(/Expected 6 elements for shape \[2, 3\] but received a Float32Array of length 5/);
  });

  it('rejects a dtype that does not match the array', () => {
    expect(() => new Tensor(new Float64Array(2), [2], 'float32')).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
    expect(() => new Tensor(new Float32Array(2), [2], 'float99' as never)).toThrow(expect.objectContaining({ code: 'ERR_DTYPE' }));
    expect(() => new Tensor('abc' as never)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });
});
