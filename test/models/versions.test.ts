// Models saved by each PyTorch (2.13 and 1.13), loaded by the libtorch under test, against
// the outputs the PyTorch that saved them computed; and a 2.x-only operator on both builds.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, TorchError, version } from '../../lib/index.ts';
import { FIXTURES_BY_TORCH, expectClose, tensorOf, type Saved } from '../helpers/fixtures.ts';

const is2x = Number(version.libtorch.split('.')[0]) >= 2;

describe.each(Object.entries(FIXTURES_BY_TORCH))(`libtorch ${version.libtorch} runs models saved by PyTorch %s`, (saver, dir) => {
  const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8'));
  const load = (name: string) => Model.loadSync(path.join(dir, name));

  it('records which PyTorch saved them', () => {
    expect(expected.torch.startsWith(saver)).toBe(true);
  });

  it('the PD controller and the MLP give the saver\'s outputs', () => {
    expectClose(load('script_pd_controller.pt').forwardSync(...expected.pd.inputs.map(tensorOf)) as never, expected.pd.output);
    const m2 = load('mlp_m2.pt');
    expectClose(m2.forwardSync(tensorOf(expected.m2.inputs[0])) as never, expected.m2.output);
    expectClose(m2.forwardSync(tensorOf(expected.m2_batch5.inputs[0])) as never, expected.m2_batch5.output);
  });

  it('tuples, scalars and parameters as the saver computed them', () => {
    const kinds = load('kinds.pt');
    const x = tensorOf({ shape: [4], dtype: 'float32', data: [0, 1, 2, 3] });
    const h = tensorOf({ shape: [4], dtype: 'float32', data: [1, 2, 3, 4] });
    const out = kinds.forwardSync(x, h) as never as unknown[];
    expected.kinds.forward.forEach((s: Saved, i: number) => expectClose(out[i] as never, s));
    expectClose(kinds.callSync('scaled', x, 2.5, 3) as never, expected.kinds.scaled);
    for (const [name, s] of Object.entries(expected.kinds.params)) expectClose(kinds.parameters()[name], s as Saved);
  });
});

describe('an operator only PyTorch 2.x has (scaled_dot_product_attention, saved by 2.13)', () => {
  const file = path.join(FIXTURES_BY_TORCH['2.13'], 'sdpa.pt');
  const expected = JSON.parse(readFileSync(path.join(FIXTURES_BY_TORCH['2.13'], 'expected.json'), 'utf8')).sdpa;

  it.runIf(is2x)('loads and runs in a 2.x build', async () => {
    const m = await Model.load(file);
    expectClose((await m.forward(tensorOf(expected.inputs[0]))) as never, expected.output, 1e-5);
  });

  it.runIf(!is2x)('is the documented ERR_MODEL_LOAD in the 1.13 build: the operator, the saver, the fix', async () => {
    expect(existsSync(file)).toBe(true);
    let caught: unknown;
    try {
      Model.loadSync(file);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(TorchError);
    const e = caught as TorchError;
    expect(e.code).toBe('ERR_MODEL_LOAD');
    expect(e.message).toMatch(/calls aten::scaled_dot_product_attention at code\/__torch__\.py:\d+, an operator that libtorch 1\.13\.\d does not have; the file was saved by PyTorch 2\.1 or later\. .*libtorch 2\.x.*LIBTORCH=/s);
    await expect(Model.load(file)).rejects.toMatchObject({ code: 'ERR_MODEL_LOAD' });
  });
});
