import { describe, expect, it } from 'vitest';
import { Model, Tensor } from '../../lib/index.ts';
import { fixture } from '../helpers/fixtures.ts';

describe('async forward runs off the JavaScript thread', () => {
  it('the event loop keeps turning during a long forward', async () => {
    using m = Model.loadSync(fixture('slow.pt'));
    const x = new Tensor(new Float32Array(256 * 256).fill(0.001), [256, 256]);
    const t0 = performance.now();
    m.forwardSync(x, 20);
    const syncMs = performance.now() - t0;
    const n = Math.max(40, Math.ceil((20 * 250) / Math.max(syncMs, 1))); // about 250 ms of work
    // A macrotask queued after the call: it runs before the promise settles only if the call
    // returned at once and the work went on elsewhere (a forward run on this thread would
    // settle the promise before any macrotask). No timing is assumed.
    let turned = false;
    const pending = m.forward(x, n);
    setImmediate(() => (turned = true));
    const y = await pending;
    expect([...y.shape]).toEqual([256, 256]);
    expect(turned).toBe(true);
  });

  it('the async result equals the sync one, and inputs may be dropped by the caller meanwhile', async () => {
    using m = Model.loadSync(fixture('slow.pt'));
    const make = () => new Tensor(Float32Array.from({ length: 64 * 64 }, (_, i) => ((i % 13) - 6) / 100), [64, 64]);
    const expected = m.forwardSync(make(), 30).data as Float32Array;
    const pending = m.forward(make(), 30); // the only reference to the input is inside the call
    globalThis.gc?.();
    const got = (await pending).data as Float32Array;
    expect(Array.from(got)).toEqual(Array.from(expected));
  });

  it('many concurrent calls on one model all settle correctly', async () => {
    using m = Model.loadSync(fixture('kinds.pt'));
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => m.call('scaled', new Tensor(new Float32Array([i])), 2, 1)),
    );
    results.forEach((r, i) => expect(r.data[0]).toBe(2 * i + 1));
  });
});
