import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DTYPES, Model, Tensor, TorchError, version, setNumThreads, getNumThreads, type DType } from '../../lib/index.ts';
import { expectClose, expectedOutputs as E, fixture, tensorOf, PYTHON } from '../helpers/fixtures.ts';

describe('Model: loading', () => {
  it('loads from a path, a file:// URL and a Buffer, sync and async', async () => {
    const byPath = await Model.load(fixture('script_pd_controller.pt'));
    const byUrl = Model.loadSync(pathToFileURL(fixture('script_pd_controller.pt')));
    const byBuffer = await Model.load(readFileSync(fixture('script_pd_controller.pt')));
    const byBufferSync = Model.loadSync(readFileSync(fixture('script_pd_controller.pt')));
    for (const m of [byPath, byUrl, byBuffer, byBufferSync]) {
      expect(m.methods).toEqual(['forward']);
      expect(m.device).toBe('cpu');
      m.dispose();
    }
  });

  it('reports methods and signatures', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    expect(m.methods).toEqual(expect.arrayContaining(['forward', 'reset', 'scaled', 'tick', 'dicts', 'options']));
    expect(m.signature('forward')).toEqual({
      name: 'forward',
      arguments: [
        { name: 'x', type: 'Tensor', hasDefault: false },
        { name: 'h', type: 'Tensor', hasDefault: false },
      ],
      returns: 'Tuple[Tensor, Tensor]',
    });
    const opts = m.signature('options');
    expect(opts.arguments.map((a) => [a.name, a.type, a.default])).toEqual([
      ['x', 'Optional[Tensor]', undefined],
      ['flag', 'bool', true],
      ['name', 'str', 'hi'],
      ['k', 'int', 3],
    ]);
    expect(() => m.signature('nope')).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND' }));
  });

  it('reports versions and CUDA availability', () => {
    expect(version.libtorch).toMatch(/^\d+\.\d+/);
    expect(typeof version.cuda).toBe('boolean');
    expect(version.torchloop).toBe(JSON.parse(readFileSync('package.json', 'utf8')).version);
  });

  it('asking for CUDA where libtorch has none is an ERR_DEVICE, not a silent CPU model', async () => {
    if (version.cuda) return; // the GPU suite covers CUDA machines
    expect(() => Model.loadSync(fixture('kinds.pt'), { device: 'cuda' })).toThrow(
      expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/CUDA was asked for/) }),
    );
    await expect(Model.load(fixture('kinds.pt'), { device: 'cuda:0' })).rejects.toMatchObject({ code: 'ERR_DEVICE' });
    expect(() => Model.loadSync(fixture('kinds.pt'), { device: 'tpu' })).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
  });

  it('threads default to 1 for realtime use and can be set', () => {
    expect(getNumThreads()).toBe(1);
    setNumThreads(2);
    expect(getNumThreads()).toBe(2);
    setNumThreads(1);
    expect(() => setNumThreads(0)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });
});

describe('Model: outputs match PyTorch', () => {
  it('PD controller (dg_pytorch)', async () => {
    using m = Model.loadSync(fixture('script_pd_controller.pt'));
    const inputs = E.pd.inputs.map(tensorOf);
    expectClose(m.forwardSync(...inputs), E.pd.output);
    expectClose(await m.forward(...inputs), E.pd.output);
  });

  it('MLP 48-256-256-12, batch 1 and batch 5', async () => {
    using m = await Model.load(fixture('mlp_m2.pt'));
    expectClose(m.forwardSync(tensorOf(E.m2.inputs[0])), E.m2.output);
    expectClose(await m.forward(tensorOf(E.m2_batch5.inputs[0])), E.m2_batch5.output);
  });

  it('tuple outputs, exported methods, ints and floats from the signature', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    const x = new Tensor(new Float32Array([0, 1, 2, 3]));
    const [sum, prod] = m.forwardSync(x, new Tensor(new Float32Array([1, 2, 3, 4])));
    expectClose(sum, E.kinds.forward[0]);
    expectClose(prod, E.kinds.forward[1]);
    expectClose(m.callSync('scaled', x, 2.5, 3), E.kinds.scaled);
    expectClose(m.callSync('project', new Tensor(new Float32Array(6).fill(1), [2, 3])), E.kinds.project);
  });

  it('parameters and buffers by name, as copies', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    const p = m.parameters();
    expect(Object.keys(p)).toEqual(['w']);
    expectClose(p.w, E.kinds.params.w);
    (p.w.data as Float32Array)[0] = 100; // a copy: the module is unchanged
    expectClose(m.parameters().w, E.kinds.params.w);
    expect(m.buffers().count.dtype).toBe('int64');
  });

  it('state changes through methods (reset/tick) and eval/train', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    expect(m.callSync('tick')).toBe(1);
    expect(m.callSync('tick')).toBe(2);
    expect(m.callSync('reset')).toBeNull();
    expect(m.callSync('tick')).toBe(1);
    expect(m.training).toBe(false);
    expect(m.train().training).toBe(true);
    expect(m.eval().training).toBe(false);
  });
});

describe('Model: every value kind makes the round trip', () => {
  it.each(DTYPES)('%s tensors', (dtype: DType) => {
    using m = Model.loadSync(fixture('kinds.pt'));
    const src = new Tensor([1, 0, 1, 1, 0, 1], [2, 3], dtype);
    const out: Tensor = m.callSync('identity', src);
    expect(out.dtype).toBe(dtype);
    expect([...out.shape]).toEqual([2, 3]);
    expect(out.data).not.toBe(src.data);
    expect(Array.from(out.data as ArrayLike<number | bigint>, Number)).toEqual(Array.from(src.data as ArrayLike<number | bigint>, Number));
  });

  it('a plain TypedArray passes as a 1-D tensor', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    const out: Tensor = m.callSync('scaled', new Float64Array([1, 2]), 2, 0);
    expect(out.dtype).toBe('float64');
    expect(Array.from(out.data as Float64Array)).toEqual([2, 4]);
  });

  it('numbers, booleans, strings, null, defaults', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    expect(m.callSync('options', null)).toEqual([true, 'hi!', 3, null]);
    expect(m.callSync('options', undefined, false, 'yo', 7)).toEqual([false, 'yo!', 7, null]);
    const x = new Tensor(new Float32Array([1]));
    const [, , , back] = m.callSync('options', x);
    expect(Array.from(back.data)).toEqual([1]);
    expect(m.callSync('nothing')).toBeNull();
  });

  it('lists, tuples and dicts, nested', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    const a = new Tensor(new Float32Array([1, 2]));
    const b = new Tensor(new Float32Array([10, 20]));
    const [total, ks, fs] = m.callSync('lists', [a, b], [1, 2, 3], [0.5, 0.25]);
    expect(Array.from(total.data)).toEqual([11, 22]);
    expect(ks).toBe(6);
    expect(fs).toBe(0.75);
    const d = m.callSync('dicts', { left: a, right: b });
    expect(Object.keys(d).sort()).toEqual(['left_twice', 'right_twice']);
    expect(Array.from(d.right_twice.data)).toEqual([20, 40]);
    expect(m.callSync('nested', [['a', [1, 2]], ['b', [3.5]]])).toEqual({ a: 3, b: 3.5 });
  });

  it('an output that aliases an input is copied; a fresh output owns libtorch memory', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    const x = new Tensor(new Float32Array([1, 2, 3]));
    const same: Tensor = m.callSync('first', x);
    expect(same.data.buffer).not.toBe(x.data.buffer);
    (same.data as Float32Array)[0] = 9;
    expect(x.data[0]).toBe(1);
  });
});

describe('Model: save', () => {
  it('saves a module that real PyTorch loads and runs to the same outputs', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'torchloop-'));
    const out = path.join(dir, 'resaved.pt');
    using m = Model.loadSync(fixture('mlp_m2.pt'));
    m.save(out);
    using again = Model.loadSync(out);
    expectClose(again.forwardSync(tensorOf(E.m2.inputs[0])), E.m2.output);
    const script = `import torch, json, sys
m = torch.jit.load(sys.argv[1]); e = json.load(open(sys.argv[2]))['m2']
x = torch.tensor(e['inputs'][0]['data']).reshape(e['inputs'][0]['shape'])
print(float((m(x).flatten() - torch.tensor(e['output']['data'])).abs().max()))`;
    const diff = Number(execFileSync(PYTHON, ['-c', script, out, fixture('expected.json')], { encoding: 'utf8' }));
    expect(diff).toBeLessThan(1e-5);
  });

  it('a save to an unwritable place is an error, not a crash', () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    expect(() => m.save('/nonexistent-dir/x.pt')).toThrow(TorchError);
  });
});
