// The zoo: 15 TorchScript files others published (Unitree, Isaac Lab, walk-these-ways,
// humanoid-gym, extreme-parkour, legged_gym actuator nets, an MPC net, a CNN, Silero VAD,
// an Allegro potential). Each loads, gives the outputs the PyTorch of this libtorch computed
// (scripts/zoo_golden.py, at fixture time), and steps as a TorchEntity whose outputs match
// call after call (stateful ones too), with 0 GCs over 2,000 steps.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, TorchError, version } from '../../lib/index.ts';
import { ZOO_MODELS, decode, leaves, worstError, zooEntity, zooPath, zooRecords, type ZooRecord } from '../helpers/zoo.ts';

const records = zooRecords();
const TOL = 1e-4;

/** torchloop's result flattened as the saved one is: [place, tensor]. */
function flatten(v: unknown, prefix = ''): [string, Tensor][] {
  const at = (p: string) => (prefix ? `${prefix}.${p}` : p);
  if (v instanceof Tensor) return [[prefix || '0', v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => flatten(x, at(String(i))));
  if (v && typeof v === 'object') return Object.entries(v).flatMap(([k, x]) => flatten(x, at(k)));
  return [];
}

function expectMatches(result: unknown, saved: ZooRecord['calls'] extends (infer C)[] | undefined ? C : never, what: string) {
  const got = new Map(flatten(result));
  for (const leaf of leaves(saved.result)) {
    const t = got.get(leaf.name);
    expect(t, `${what}: result '${leaf.name}'`).toBeDefined();
    expect([...t!.shape], `${what}: shape of '${leaf.name}'`).toEqual(leaf.tensor.shape);
    const data = Array.from(t!.data as ArrayLike<number | bigint>, Number);
    expect(worstError(data, leaf.tensor.data), `${what}: '${leaf.name}'`).toBeLessThan(TOL);
  }
}

describe.skipIf(!ZOO_MODELS)(`the zoo on libtorch ${version.libtorch}`, () => {
  it('holds the 15 published models', () => {
    expect(records.length).toBe(15);
  });

  describe.each(records.map((r) => [r.file, r] as const))('%s', (_file, r) => {
    it(`matches PyTorch ${r.torch} (Model.forwardSync, ${r.calls?.length ?? 0} call(s) in a row)`, () => {
      if (r.error) {
        // PyTorch itself could not load it: torchloop refuses it too, with a code.
        expect(() => Model.loadSync(zooPath(r))).toThrow(TorchError);
        return;
      }
      using model = Model.loadSync(zooPath(r), { grad: r.grad });
      r.calls!.forEach((call, c) => expectMatches(model.callSync(r.method, ...(call.args.map(decode) as never[])), call, `call ${c}`));
    });

    it.skipIf(!!r.error)('steps as a TorchEntity, its outputs matching PyTorch step after step', () => {
      const z = zooEntity(r);
      try {
        const report = z.entity.warmup({ minRuns: 5, maxRuns: 50 });
        expect(report.path).toBe(z.entity.planStatus);
        r.calls!.forEach((call, c) => {
          z.feed(c);
          for (const o of z.outputs) {
            o.signal.recompute(c + 1);
            const leaf = leaves(call.result).find((l) => l.name === o.name)!;
            expect(worstError(o.signal.value, leaf.tensor.data), `step ${c}: '${o.name}' (${z.entity.planStatus})`).toBeLessThan(TOL);
          }
        });
      } finally {
        z.entity.dispose();
      }
    });
  });

  it('every zoo model steps 2,000 times as an entity with 0 GCs', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/helpers/zoo-steps.ts', '2000'], { encoding: 'utf8', maxBuffer: 1 << 24 });
    const rows = JSON.parse(out.trim().split('\n').pop()!) as { file: string; gcs: number; steps: number; path: string }[];
    expect(rows.map((x) => x.file).sort()).toEqual(records.filter((x) => !x.error).map((x) => x.file).sort());
    for (const row of rows) {
      expect(row.steps, row.file).toBe(2000);
      expect(row.gcs, `${row.file} (${row.path})`).toBe(0);
    }
  }, 300_000);

  const allegro = records.find((r) => r.file.includes('Allegro'));
  it.skipIf(!allegro || !!allegro.error)('Allegro computes forces with torch.autograd.grad: it needs { grad: true }, and says so without it', () => {
    using model = Model.loadSync(zooPath(allegro!));
    expect(model.gradEnabled).toBe(false);
    try {
      model.callSync('forward', ...(allegro!.calls![0].args.map(decode) as never[]));
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(TorchError);
      expect((e as TorchError).code).toBe('ERR_RUNTIME');
      expect((e as TorchError).message).toMatch(/does not require grad/);
    }
    model.gradEnabled = true;
    expect(model.training).toBe(false); // eval with gradients, not train()
    expectMatches(model.callSync('forward', ...(allegro!.calls![0].args.map(decode) as never[])), allegro!.calls![0], 'with grad');
  });

  const g1 = records.find((r) => r.file.includes('g1_motion'));
  it.skipIf(!g1)('a stateful policy (Unitree g1: LSTM memory in buffers) keeps state between steps, and reset_memory() clears it', () => {
    const z = zooEntity(g1!);
    try {
      z.entity.warmup({ minRuns: 5, maxRuns: 20 });
      expect(z.entity.planStatus).toMatch(/keeps state/);
      const out = z.outputs[0].signal;
      const first = (t: number) => {
        z.feed(0);
        out.recompute(t);
        return Float32Array.from(out.value);
      };
      const a = first(1), b = first(2);
      expect(worstError(b, Array.from(a))).toBeGreaterThan(1e-6); // same input, new memory
      z.entity.call('reset_memory');
      expect(worstError(first(3), Array.from(a))).toBeLessThan(1e-6);
    } finally {
      z.entity.dispose();
    }
  });

  const anydrive = records.find((r) => r.file.includes('anydrive'));
  it.skipIf(!anydrive)('the anydrive LSTM (x, (h, c)) -> (y, (h, c)): its state fed back with feedback(), as legged_gym does', () => {
    const z = zooEntity(anydrive!);
    try {
      expect(z.entity.outputNames).toEqual(['0', '1.0', '1.1']);
      z.entity.feedback('out_1_0', 'hc0_0').feedback('out_1_1', 'hc0_1');
      z.entity.warmup({ minRuns: 5, maxRuns: 20 });
      // Two steps through the entity against two calls of the model, state carried by hand.
      using model = Model.loadSync(zooPath(anydrive!));
      const args = anydrive!.calls![0].args.map(decode) as [Tensor, Tensor[]];
      let [, hc] = args;
      for (let t = 1; t <= 2; t++) {
        const [y, next] = model.forwardSync(args[0], hc) as unknown as [Tensor, Tensor[]];
        z.outputs[0].signal.recompute(t);
        expect(worstError(z.outputs[0].signal.value, Array.from(y.data as Float32Array))).toBeLessThan(TOL);
        hc = next;
      }
    } finally {
      z.entity.dispose();
    }
  });
});
