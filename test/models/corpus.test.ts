// The valid-file corpus (scripts/make_corpus.py, made at setup by the PyTorch of this build):
// every scriptable torch.nn module, containers, the TorchScript language (NamedTuple, Union,
// Optional, enums, interfaces, script classes, exports, Final, hooks, state written in
// forward, attributes of every type), traced and frozen modules. Every file must load (the
// validating loader may not refuse what PyTorch writes) and give what PyTorch computed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, version } from '../../lib/index.ts';
import { CORPUS, expectSame, manifest } from '../helpers/corpus.ts';
import { decode } from '../helpers/zoo.ts';

describe(`the valid-file corpus saved by PyTorch ${manifest.torch} (libtorch ${version.libtorch})`, () => {
  it('covers every kind: torch.nn modules, containers, the language, trace, freeze', () => {
    const kinds = new Map<string, number>();
    for (const e of manifest.files) kinds.set(e.kind, (kinds.get(e.kind) ?? 0) + 1);
    expect(kinds.get('nn')).toBeGreaterThanOrEqual(95);
    expect(kinds.get('container')).toBe(5);
    expect(kinds.get('language')).toBeGreaterThanOrEqual(16);
    expect(kinds.get('trace')).toBe(4);
    expect(kinds.get('frozen')).toBe(4);
    // What PyTorch could not script is listed, and only modules are (never a language case).
    for (const s of manifest.skipped) expect(s.name, s.why).not.toMatch(/^(lang|container|trace|frozen)_/);
  });

  const entries = manifest.files.filter((e) => !e.needs);
  it.each(entries.map((e) => [e.file, e] as const))('%s loads and gives what PyTorch computed', (_name, e) => {
    const file = path.join(CORPUS, e.file);
    expect(existsSync(file)).toBe(true);
    using model = Model.loadSync(file);
    e.calls.forEach((call, c) => expectSame(model.callSync(e.method, ...(call.args.map(decode) as never[])), call.result, `${e.file} call ${c}`));
  });

  it('loads from a Buffer too, asynchronously, with the same results', async () => {
    for (const e of entries.filter((x) => x.kind === 'language')) {
      using model = await Model.load(readFileSync(path.join(CORPUS, e.file)));
      const call = e.calls[0];
      expectSame(await model.call(e.method, ...(call.args.map(decode) as never[])), call.result, `${e.file} (async)`);
    }
  });
});
