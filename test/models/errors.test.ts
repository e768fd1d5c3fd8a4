import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, TorchError } from '../../lib/index.ts';
import { fixture } from '../helpers/fixtures.ts';
import { caught } from '../helpers/caught.ts';


/** No C++ backtrace (frames like "frame #3: ... + 0x..." or "Exception raised from"). */
function expectNoBacktrace(e: TorchError) {
  expect(e.message).not.toMatch(/frame #\d|Exception raised from|0x[0-9a-f]{8,}/);
}

describe('bad model files', () => {
  const cases: [string, RegExp][] = [
    ['missing.pt', /no such file/],
    ['empty.pt', /the file is empty/],
    ['truncated.pt', /damaged or truncated/],
    ['random.pt', /not a TorchScript archive/],
    ['state_dict.pt', /written by torch\.save \(a state_dict/],
    ['newer_pytorch.pt', /calls aten::future_op_from_pytorch_2 at code\/__torch__.py:\d+, an operator that libtorch [\d.]+ does not have.*saved by PyTorch.*LIBTORCH=/s],
  ];
  it.each(cases)('%s: ERR_MODEL_LOAD that says what the file is and what to do', async (name, why) => {
    const e = caught(() => Model.loadSync(fixture(name)));
    expect(e.code).toBe('ERR_MODEL_LOAD');
    expect(e.message).toMatch(why);
    expectNoBacktrace(e);
    await expect(Model.load(fixture(name))).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(why) });
  });

  it('the same diagnosis for bytes in a Buffer', () => {
    expect(caught(() => Model.loadSync(readFileSync(fixture('truncated.pt')))).message).toMatch(/truncated/);
    expect(caught(() => Model.loadSync(Buffer.alloc(0))).code).toBe('ERR_MODEL_LOAD');
  });

  it('a source of the wrong type is an ERR_ARGUMENT', () => {
    expect(caught(() => Model.loadSync(42 as never)).code).toBe('ERR_ARGUMENT');
    expect(caught(() => Model.loadSync(new URL('https://example.com/m.pt'))).code).toBe('ERR_ARGUMENT');
  });
});

describe('bad calls', () => {
  const m = Model.loadSync(fixture('kinds.pt'));
  const x = new Tensor(new Float32Array([1, 2, 3, 4]));

  it('too few arguments names the missing one', () => {
    const e = caught(() => m.forwardSync(x));
    expect(e.code).toBe('ERR_ARGUMENT');
    expect(e.message).toBe("Expected Tensor for argument 'h' of forward(x: Tensor, h: Tensor) but received nothing");
  });

  it('too many arguments', () => {
    expect(caught(() => m.forwardSync(x, x, x)).message).toMatch(/Expected at most 2 argument\(s\) for forward\(x: Tensor, h: Tensor\) but received 3/);
  });

  it('a value of the wrong kind names the argument', () => {
    expect(caught(() => m.forwardSync(x, 'nope')).message).toBe(
      "Expected a Tensor or a TypedArray for argument 'h' of forward() but received string 'nope'",
    );
    expect(caught(() => m.callSync('scaled', x, 2, 1.5)).message).toMatch(/Expected an integer \(int\) for argument 'n' of scaled\(\) but received number 1\.5/);
    expect(caught(() => m.callSync('options', x, 'yes')).message).toMatch(/Expected a boolean for argument 'flag'/);
    expect(caught(() => m.callSync('lists', x, [1], [1])).message).toMatch(/Expected an array \(List\[Tensor\]\) for argument 'xs'/);
    expect(caught(() => m.callSync('lists', [x, 5], [1], [1])).message).toMatch(/argument 'xs' of lists\(\)\[1\]/);
  });

  it('the wrong dtype: at the boundary and deep inside the model', () => {
    expect(caught(() => m.forwardSync(new Tensor(new Float32Array(2), [2], 'float64' as never), x)).code).toBe('ERR_DTYPE');
    const e = caught(() => m.callSync('project', new Tensor(new Float64Array(6), [2, 3])));
    expect(e.code).toBe('ERR_DTYPE');
    // 1.13: "expected scalar type Float but found Double"; 2.x: "expected m1 and m2 to have the same dtype".
    expect(e.message).toMatch(/project\(\) failed: expected (scalar type|m1 and m2 to have the same dtype)/);
    expectNoBacktrace(e);
  });

  it('a wrong shape deep inside the model', async () => {
    using deep = Model.loadSync(fixture('deep_shape_error.pt'));
    const input = new Tensor(new Float32Array(4), [1, 4]);
    const e = caught(() => deep.forwardSync(input));
    expect(e.code).toBe('ERR_SHAPE');
    expect(e.message).toMatch(/forward\(\) failed: mat1 and mat2 shapes cannot be multiplied \(1x8 and 7x2\)/);
    expectNoBacktrace(e);
    await expect(deep.forward(input)).rejects.toMatchObject({ code: 'ERR_SHAPE' });
    // The model is still usable afterwards.
    expect(caught(() => deep.forwardSync(input)).code).toBe('ERR_SHAPE');
  });

  it('an unknown method', async () => {
    expect(caught(() => m.callSync('nope')).code).toBe('ERR_NOT_FOUND');
    await expect(m.call('nope')).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
  });

  it('async argument errors reject instead of throwing', async () => {
    await expect(m.forward(x)).rejects.toMatchObject({ code: 'ERR_ARGUMENT' });
  });
});

describe('disposed models', () => {
  it('every call after dispose() is an ERR_DISPOSED, and dispose() twice is fine', async () => {
    const m = Model.loadSync(fixture('kinds.pt'));
    m.dispose();
    m.dispose();
    expect(m.disposed).toBe(true);
    const x = new Tensor(new Float32Array(4));
    expect(caught(() => m.forwardSync(x, x)).code).toBe('ERR_DISPOSED');
    expect(caught(() => m.methods).code).toBe('ERR_DISPOSED');
    expect(caught(() => m.parameters()).code).toBe('ERR_DISPOSED');
    await expect(m.forward(x, x)).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });

  it('dispose() during an async forward: the forward completes, then the model is gone', async () => {
    const m = Model.loadSync(fixture('slow.pt'));
    const x = new Tensor(new Float32Array(64 * 64).fill(0.01), [64, 64]);
    const pending = m.forward(x, 200);
    m.dispose();
    const y: Tensor = await pending;
    expect([...y.shape]).toEqual([64, 64]);
    expect(Number.isFinite(y.data[0] as number)).toBe(true);
    await expect(m.forward(x, 1)).rejects.toMatchObject({ code: 'ERR_DISPOSED' });
  });
});
