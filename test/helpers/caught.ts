import { expect } from 'vitest';
import { TorchError } from '../../lib/index.ts';

/** The TorchError that fn throws (a test fails if it throws something else, or nothing). */
export function caught(fn: () => unknown): TorchError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TorchError);
    return e as TorchError;
  }
  throw new Error('expected a TorchError');
}
