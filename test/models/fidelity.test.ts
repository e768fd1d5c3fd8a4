// What PyTorch accepts, torchloop accepts: operators from other libraries (loadLibrary, as
// torch.ops.load_library), arguments PyTorch converts (NamedTuple, Union), and a diagnosis
// that says what a file is when it cannot be read (the legacy format, a missing library).
// Each file here runs in its own process, so the operator library is not loaded before the
// first test loads it.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, TorchEntity, TorchError, loadLibrary } from '../../lib/index.ts';
import { caught } from '../helpers/caught.ts';
import { decode } from '../helpers/zoo.ts';
import { CORPUS, expectSame, manifest } from '../helpers/corpus.ts';
import { readZip, writeZip } from '../../scripts/fuzz/mutate.ts';

const entry = (file: string) => manifest.files.find((e) => e.file === file)!;
// The operator library setup built beside this build's addon (test/native/my_ops.cc).
const OPS_LIB = path.join(path.dirname(path.resolve(process.env.TORCHLOOP_ADDON ?? 'build/Release/torchloop.node')), '..', 'test-ops', 'libmy_ops.so');

describe('operators from another library', () => {
  const custom = entry('custom_op.pt');

  it('a model calling an operator nobody loaded is refused, naming the library to load (not the libtorch version)', () => {
    const e = caught(() => Model.loadSync(path.join(CORPUS, custom.file)));
    expect(e).toBeInstanceOf(TorchError);
    expect(e.code).toBe('ERR_MODEL_LOAD');
    expect(e.message).toMatch(/my_ops::scale_add/);
    expect(e.message).toMatch(/'my_ops' namespace, which is not loaded/);
    expect(e.message).toMatch(/loadLibrary\(/);
    expect(e.message).not.toMatch(/newer|does not have/);
  });

  it('loadLibrary() registers its operators, and the model then loads and gives what PyTorch computed', () => {
    expect(existsSync(OPS_LIB)).toBe(true);
    const r = loadLibrary(OPS_LIB);
    expect(r.operators).toEqual(['my_ops::scale_add']);
    expect(loadLibrary(OPS_LIB).operators).toEqual([]); // a second load registers nothing new
    using m = Model.loadSync(path.join(CORPUS, custom.file));
    for (const call of custom.calls) expectSame(m.callSync('forward', ...(call.args.map(decode) as never[])), call.result, 'custom_op');
  });

  it('a missing or unloadable library is a clear error with a code', () => {
    expect(caught(() => loadLibrary('/nonexistent/libnothing.so')).code).toBe('ERR_NOT_FOUND');
    const notElf = caught(() => loadLibrary(path.join(CORPUS, 'manifest.json')));
    expect(notElf.code).toBe('ERR_RUNTIME');
    expect(notElf.message).toMatch(/Cannot load the operator library .*manifest\.json/);
    expect(caught(() => loadLibrary('' as string)).code).toBe('ERR_ARGUMENT');
  });

  it("an unknown aten:: operator is still diagnosed as a newer PyTorch's", () => {
    // The corpus' ParameterList model, with torch.mul renamed to an operator libtorch lacks.
    const e = caught(() => Model.loadSync(Buffer.from(patchCode(readFileSync(path.join(CORPUS, 'container_ParameterList.pt')), 'torch.mul(', 'torch.mul_zz('))));
    expect(e.code).toBe('ERR_MODEL_LOAD');
    expect(e.message).toMatch(/aten::mul_zz.*does not have/);
  });
});

describe('the legacy TorchScript format', () => {
  it('is named as what it is, with how to convert it', () => {
    const e = caught(() => Model.loadSync(path.join(CORPUS, manifest.legacy)));
    expect(e.code).toBe('ERR_MODEL_LOAD');
    expect(e.message).toMatch(/legacy format version 1 \(model\.json\), written by PyTorch 1\.0 to 1\.3/);
    expect(e.message).toMatch(/save it again with torch\.jit\.save/);
    expect(e.message).not.toMatch(/damaged|truncated/);
  });
});

describe('arguments PyTorch converts', () => {
  it('a NamedTuple argument takes an array of its fields, or an object of them by name', () => {
    const e = entry('lang_NamedTuple.pt');
    using m = Model.loadSync(path.join(CORPUS, e.file));
    const [[x, y]] = e.calls[0].args.map(decode) as [[Tensor, Tensor]];
    expectSame(m.forwardSync([x, y]), e.calls[0].result, 'as an array');
    expectSame(m.forwardSync({ x, y }), e.calls[0].result, 'as an object');
    const missing = caught(() => m.forwardSync({ x }));
    expect(missing.code).toBe('ERR_ARGUMENT');
    expect(missing.message).toMatch(/field 'y'/);
  });

  it('a JS integer for Union[int, str] is an int, a string a str, anything else is refused', () => {
    const e = entry('lang_Union.pt');
    using m = Model.loadSync(path.join(CORPUS, e.file));
    e.calls.forEach((call, i) => expectSame(m.forwardSync(...(call.args.map(decode) as never[])), call.result, `call ${i}`));
    const x = decode(e.calls[0].args[0]) as Tensor;
    expect(caught(() => m.forwardSync(x, 2.5)).code).toBe('ERR_ARGUMENT');
    expect(caught(() => m.forwardSync(x, true)).message).toMatch(/Union\[int, str\]/);
  });
});

describe('int64 signals', () => {
  it('an int64 input takes a BigInt64Array, and an int64 result is an output signal (as float64), step after step', () => {
    // forward(idx: int64 Tensor, table: Tensor) -> (table[idx], idx * 2), as PyTorch computed it.
    const e = entry('lang_IntTensors.pt');
    const [idxIn, tableIn] = e.calls[0].args.map(decode) as [Tensor, Tensor];
    const entity = new TorchEntity('gather');
    entity.loadModel(path.join(CORPUS, e.file));
    const idx = entity.addInput('idx', { shape: [...idxIn.shape], dtype: 'int64' });
    const table = entity.addInput('table', { shape: [...tableIn.shape] });
    const rows = entity.addOutput('rows');
    const doubled = entity.addOutput('doubled');
    idx.value = idxIn.data as BigInt64Array;
    table.value = tableIn.data as Float32Array;
    entity.warmup({ minRuns: 2, maxRuns: 5 });
    for (let t = 0; t < 3; t++) {
      rows.recompute(t);
      doubled.recompute(t);
      const [wantRows, wantDoubled] = (e.calls[0].result as { tuple: { tensor: { data: number[] } }[] }).tuple.map((x) => x.tensor.data);
      expect(Array.from(rows.value)).toEqual(wantRows.map(Math.fround));
      expect(doubled.value).toBeInstanceOf(Float64Array);
      expect(Array.from(doubled.value)).toEqual(wantDoubled);
    }
    idx.value = [0n, 0n, 2n];
    doubled.recompute(10);
    expect(Array.from(doubled.value)).toEqual([0, 0, 4]);
    expect(caught(() => (idx.value = [2n ** 60n, 0n, 0n])).message).toMatch(/beyond ±2\^53/);
    expect(caught(() => (table.value = 3n)).code).toBe('ERR_DTYPE');
    entity.dispose();
  });
});

/** A copy of an archive with `from` replaced by `to` in its TorchScript code (the fuzzer's zip reader and writer). */
function patchCode(zip: Buffer, from: string, to: string): Buffer {
  const entries = readZip(zip);
  const code = entries.filter((e) => /\/code\/.*\.py$/.test(e.name) && e.data.includes(from));
  if (code.length === 0) throw new Error(`'${from}' is not in the archive's code`);
  for (const e of code) e.data = Buffer.from(e.data.toString('latin1').split(from).join(to), 'latin1');
  return writeZip(entries);
}
