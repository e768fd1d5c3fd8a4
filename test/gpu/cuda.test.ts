// CUDA: run by `npm run check:cuda` with the CUDA build where a GPU is visible; skipped
// elsewhere (a CPU libtorch, or no GPU), where asking for CUDA is an ERR_DEVICE instead.
import { PerformanceObserver } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, TorchEntity, version } from '../../lib/index.ts';
import { expectClose, expectedOutputs as E, fixture, tensorOf } from '../helpers/fixtures.ts';

describe.runIf(!version.cuda)('without CUDA', () => {
  it("device 'cuda' is an ERR_DEVICE that says why, sync and async", async () => {
    expect(() => Model.loadSync(fixture('mlp_m2.pt'), { device: 'cuda' })).toThrow(expect.objectContaining({ code: 'ERR_DEVICE', message: expect.stringMatching(/no CUDA support or no GPU is visible/) }));
    await expect(Model.load(fixture('mlp_m2.pt'), { device: 'cuda:0' })).rejects.toMatchObject({ code: 'ERR_DEVICE' });
  });
});

describe.runIf(version.cuda)(`CUDA (${version.cudaDeviceCount} device(s))`, () => {
  it('a model on the GPU gives PyTorch\'s outputs, sync and async', async () => {
    const m = Model.loadSync(fixture('mlp_m2.pt'), { device: 'cuda' });
    expectClose(m.forwardSync(tensorOf(E.m2.inputs[0])) as Tensor, E.m2.output, 1e-4);
    expectClose((await m.forward(tensorOf(E.m2.inputs[0]))) as Tensor, E.m2.output, 1e-4);
    expect(() => Model.loadSync(fixture('mlp_m2.pt'), { device: `cuda:${version.cudaDeviceCount}` })).toThrow(expect.objectContaining({ code: 'ERR_DEVICE' }));
  });

  it('a TorchEntity on the GPU steps through a CUDA graph, matches PyTorch and collects no garbage', async () => {
    const e = new TorchEntity('gpu');
    e.loadModel(fixture('mlp_m2.pt'), { device: 'cuda' });
    e.addInput('x', { shape: [1, 48] });
    const out = e.addOutput('y');
    e.signal('x').value = Float32Array.from(E.m2.inputs[0].data);
    e.warmup();
    expect(e.planStatus).toMatch(/^cuda graph/);
    out.recompute(1);
    expectClose(new Tensor(out.value as Float32Array, [1, 12]), E.m2.output, 1e-4);
    let gcs = 0;
    const obs = new PerformanceObserver((l) => (gcs += l.getEntries().length));
    obs.observe({ entryTypes: ['gc'] });
    for (let t = 2; t < 10_002; t++) out.recompute(t);
    await new Promise((r) => setTimeout(r, 20));
    obs.disconnect();
    expect(gcs).toBe(0);
    e.dispose();
  });
});
