import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { Tensor, type DType } from '../../lib/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Fixtures saved by the PyTorch of the libtorch under test (set per test project in vitest.config.ts). */
export const FIXTURES = path.resolve(root, process.env.TORCHLOOP_FIXTURES ?? 'test/fixtures/torch-2.13');
export const fixture = (name: string) => path.join(FIXTURES, name);
/** The PyTorch of the libtorch under test, to check what torchloop writes with PyTorch's own readers. */
export const PYTHON = process.env.TORCHLOOP_TEST_PYTHON ?? path.join(root, '.torch', 'bin', 'python');

/** Fixtures saved by each PyTorch, by version: { '2.13': dir, '1.13': dir }. */
export const FIXTURES_BY_TORCH: Record<string, string> = {
  '2.13': path.join(root, 'test/fixtures/torch-2.13'),
  '1.13': path.join(root, 'test/fixtures/torch-1.13'),
};

/** A tensor as PyTorch saved it in expected.json. */
export interface Saved {
  shape: number[];
  dtype: string;
  data: number[];
}
export const expectedOutputs: Record<string, any> = JSON.parse(readFileSync(fixture('expected.json'), 'utf8'));

export function tensorOf(s: Saved): Tensor {
  return new Tensor(Float32Array.from(s.data), s.shape, s.dtype as DType);
}

/** Compares a torchloop tensor with what PyTorch computed. */
export function expectClose(actual: Tensor, saved: Saved, tol = 1e-5): void {
  expect(actual).toBeInstanceOf(Tensor);
  expect([...actual.shape]).toEqual(saved.shape);
  expect(actual.dtype).toBe(saved.dtype);
  const a = Array.from(actual.data as Float32Array);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - saved.data[i]) / (1 + Math.abs(saved.data[i])));
  expect(a.length).toBe(saved.data.length);
  expect(worst).toBeLessThan(tol);
}
