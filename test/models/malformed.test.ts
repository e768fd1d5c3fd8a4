// Malformed archives (test/fixtures/*/malformed, made from real PyTorch files by
// scripts/make_fixtures.py): every kind of damage that crashed, hung or silently fooled
// libtorch is refused before libtorch reads it, with ERR_MODEL_LOAD saying what is wrong and
// where, from a path and from bytes, sync and async. The test process surviving them all is
// the other half of the check.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, TorchError } from '../../lib/index.ts';
import { FIXTURES, fixture } from '../helpers/fixtures.ts';

const dir = path.join(FIXTURES, 'malformed');
const cases: Record<string, string> = JSON.parse(readFileSync(path.join(dir, 'cases.json'), 'utf8'));

describe('malformed archives are refused before libtorch reads them', () => {
  it('there are cases for every kind of damage', () => {
    expect(Object.keys(cases).length).toBeGreaterThanOrEqual(30);
  });

  it.each(Object.entries(cases))('%s', async (file, why) => {
    const pattern = new RegExp(why);
    let caught: unknown;
    try {
      Model.loadSync(path.join(dir, file));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TorchError);
    const e = caught as TorchError;
    expect(e.code).toBe('ERR_MODEL_LOAD');
    expect(e.message).toMatch(pattern);
    expect(e.message).not.toMatch(/newer PyTorch|frame #\d/);
    await expect(Model.load(readFileSync(path.join(dir, file)))).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD', message: expect.stringMatching(pattern) });
  });

  it('a module that is well-formed but calls an unknown operator keeps the "newer PyTorch" diagnosis, with its call site', () => {
    expect(() => Model.loadSync(fixture('newer_pytorch.pt'))).toThrow(expect.objectContaining({
      code: 'ERR_MODEL_LOAD',
      message: expect.stringMatching(/calls aten::future_op_from_pytorch_2 at code\/__torch__\.py:\d+, an operator that libtorch .* does not have; the file was saved by PyTorch/),
    }));
  });

  it('Model.compile refuses source nested 10,000 deep (libtorch\'s parser would overflow its stack)', () => {
    const deep = `${'('.repeat(10_000)}x${')'.repeat(10_000)}`;
    expect(() => Model.compile(`def forward(self, x: Tensor) -> Tensor:\n    return ${deep}\n`)).toThrow(expect.objectContaining({
      code: 'ERR_ARGUMENT',
      message: expect.stringMatching(/brackets nested more than 256 deep/),
    }));
    const ok = Model.compile(`def forward(self, x: Tensor) -> Tensor:\n    return ${'('.repeat(50)}x * 2${')'.repeat(50)}\n`);
    expect(Array.from(ok.forwardSync<Tensor>(new Tensor(new Float32Array([1, 2]))).data)).toEqual([2, 4]);
  });
});
