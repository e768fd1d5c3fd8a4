// Every input a fuzzer ever found crashing, hanging or fooling the loader (test/fuzz/crashers/,
// from npm run fuzz and npm run fuzz:native) is a regression case: it loads or it is refused
// with a TorchError, and the process lives.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, TorchError } from '../../lib/index.ts';

const dir = path.resolve(import.meta.dirname, '..', 'fuzz', 'crashers');
const files = readdirSync(dir).filter((f) => !f.startsWith('.'));

describe('inputs the fuzzers once found', () => {
  it('there are some', () => expect(files.length).toBeGreaterThan(0));

  it.each(files)('%s loads or is refused with a code, sync and async', async (file) => {
    const bytes = readFileSync(path.join(dir, file));
    const outcome = (fn: () => unknown) => {
      try {
        (fn() as Model).dispose();
        return 'loaded';
      } catch (e) {
        expect(e).toBeInstanceOf(TorchError);
        return (e as TorchError).code;
      }
    };
    const sync = outcome(() => Model.loadSync(bytes));
    expect(['loaded', 'ERR_MODEL_LOAD']).toContain(sync);
    const async = await Model.load(bytes).then((m) => (m.dispose(), 'loaded'), (e: TorchError) => e.code);
    expect(async).toBe(sync);
  });
});
