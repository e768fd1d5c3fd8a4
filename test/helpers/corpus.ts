// The valid-file corpus (scripts/make_corpus.py) as the tests read it, and a comparison of a
// torchloop result with what PyTorch computed, at every place in it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { Tensor } from '../../lib/index.ts';
import { FIXTURES } from './fixtures.ts';
import { worstError, type Encoded } from './zoo.ts';

export interface CorpusEntry {
  file: string;
  kind: string;
  method: string;
  calls: { args: Encoded[]; result: Encoded }[];
  needs?: string;
}
export const CORPUS = path.join(FIXTURES, 'corpus');
export const manifest: { torch: string; files: CorpusEntry[]; skipped: { name: string; why: string }[]; legacy: string } = JSON.parse(
  readFileSync(path.join(CORPUS, 'manifest.json'), 'utf8'),
);

/** Compares a torchloop result with what PyTorch computed, at every place in it. */
export function expectSame(got: unknown, want: Encoded, where: string): void {
  if (typeof want === 'object' && want !== null && 'tensor' in want) {
    expect(got, where).toBeInstanceOf(Tensor);
    const t = got as Tensor;
    expect([...t.shape], `${where}: shape`).toEqual(want.tensor.shape);
    expect(t.dtype, `${where}: dtype`).toBe(want.tensor.dtype);
    expect(worstError(Array.from(t.data as ArrayLike<number | bigint>, Number), want.tensor.data), where).toBeLessThan(1e-5);
  } else if (Array.isArray(want) || (typeof want === 'object' && want !== null && 'tuple' in want)) {
    const items = Array.isArray(want) ? want : want.tuple;
    expect(Array.isArray(got), `${where}: an array`).toBe(true);
    expect((got as unknown[]).length, `${where}: length`).toBe(items.length);
    items.forEach((w, i) => expectSame((got as unknown[])[i], w, `${where}[${i}]`));
  } else if (typeof want === 'object' && want !== null && 'dict' in want) {
    expect(Object.keys(got as object).sort(), `${where}: keys`).toEqual(Object.keys(want.dict).sort());
    for (const [k, w] of Object.entries(want.dict)) expectSame((got as Record<string, unknown>)[k], w, `${where}.${k}`);
  } else if (typeof want === 'number') {
    expect(Math.abs(Number(got) - want), where).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want)));
  } else {
    expect(got, where).toEqual(want);
  }
}
