import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Entity, InputSignal, Model, OutputSignal, Tensor, TorchEntity, TorchError, Tracer, plug, pool, unplug } from '../../lib/index.ts';
import { expectClose, expectedOutputs as E, fixture } from '../helpers/fixtures.ts';

const PD_INPUTS = ['sin_kp', 'sin_kd', 'sin_position', 'sin_velocity', 'sin_des_position', 'sin_des_velocity'];

/** The dg_pytorch README, step by step. */
function pdEntity(name = 'pd_controller', options = {}): TorchEntity {
  const pd = new TorchEntity(name, options);
  pd.loadModel(fixture('script_pd_controller.pt'));
  for (const s of PD_INPUTS) pd.addInput(s);
  pd.addOutput('sout_torque');
  E.pd.inputs.forEach((t: { data: number[] }, i: number) => {
    pd.signal(PD_INPUTS[i]).value = t.data as never; // number[] works
  });
  return pd;
}

afterEach(() => pool.clear());

describe('TorchEntity: the dg_pytorch flow', () => {
  it('loads, adds signals in forward order, warms up, recomputes: outputs match PyTorch', () => {
    const pd = pdEntity();
    expect(pd.model).toBeInstanceOf(Model);
    const report = pd.warmup();
    expect(report.runs).toBeGreaterThanOrEqual(20);
    expect(report.path).toMatch(/^plan|^interpreter/);
    pd.signal('sout_torque').recompute(1);
    const torque = pd.signal('sout_torque').value as Float32Array;
    expect(torque).toBeInstanceOf(Float32Array);
    expectClose(new Tensor(torque, [12]), E.pd.output);
    const ms = pd.signal('last_run_duration_ms').value;
    expect(typeof ms).toBe('number');
    expect(ms).toBeGreaterThan(0);
    expect(pd.lastRunDurationMs).toBe(ms);
  });

  it('runs the model at most once per time tick, and again for a new tick', () => {
    const pd = pdEntity();
    pd.warmup();
    const out = pd.signal('sout_torque');
    out.recompute(5);
    out.recompute(5);
    pd.signal('last_run_duration_ms').recompute(5);
    expect(pd.latency.count).toBe(1);
    out.recompute(6);
    expect(pd.latency.count).toBe(2);
  });

  it('warmup uses no time tick: a tick computed before it runs again after it', () => {
    const pd = pdEntity();
    pd.signal('sout_torque').recompute(0);
    pd.signal('sin_kp').value = [0];
    pd.signal('sin_kd').value = [0];
    pd.warmup();
    pd.signal('sout_torque').recompute(0);
    expect(Array.from(pd.signal('sout_torque').value as Float32Array, Math.abs)).toEqual(new Array(12).fill(0));
    expect(pd.latency.count).toBe(1);
  });

  it('inputs accept number[], Float32Array and Float64Array; outputs are views updated in place', () => {
    const pd = pdEntity();
    const out = pd.signal('sout_torque');
    out.recompute(1);
    const view = out.value;
    pd.signal('sin_kp').value = new Float64Array([0]);
    pd.signal('sin_kd').value = new Float32Array([0]);
    out.recompute(2);
    expect(out.value).toBe(view);
    expect(Array.from(view as Float32Array, Math.abs)).toEqual(new Array(12).fill(0));
  });

  it('several outputs come from a tuple, in addOutput order', () => {
    const e = new TorchEntity('kinds');
    e.loadModel(fixture('kinds.pt'));
    e.addInput('x').value = [0, 1, 2, 3];
    e.addInput('h').value = [1, 2, 3, 4];
    e.addOutput('sum');
    e.addOutput('product');
    e.signal('product').recompute(1);
    expectClose(new Tensor(e.signal('sum').value as Float32Array), E.kinds.forward[0]);
    expectClose(new Tensor(e.signal('product').value as Float32Array), E.kinds.forward[1]);
    expect(e.latency.count).toBe(1);
  });

  it('plan and interpreter give the same outputs, equal to PyTorch (MLP batch 1)', () => {
    const results: Float32Array[] = [];
    for (const plan of [true, false]) {
      const e = new TorchEntity(`m2_${plan}`, { plan });
      e.loadModel(fixture('mlp_m2.pt'));
      e.addInput('x', { shape: [1, 48] }).value = E.m2.inputs[0].data;
      e.addOutput('y');
      expect(e.planStatus).toMatch(plan ? /^plan \(\d+ ops\)/ : /^interpreter/);
      e.warmup({ minRuns: 5, maxRuns: 50 });
      results.push(Float32Array.from(e.step(1)));
    }
    expectClose(new Tensor(results[0], [1, 12]), E.m2.output, 1e-5);
    expectClose(new Tensor(results[1], [1, 12]), E.m2.output, 1e-5);
  });

  it('a graph the plan cannot take runs through the interpreter, correctly', () => {
    const e = new TorchEntity('slow');
    e.loadModel(fixture('slow.pt'));
    e.addInput('x', { shape: [2, 2] }).value = [1, 0, 0, 1];
    e.addOutput('y');
    // forward(x, n: int) has a loop and an int argument: the int has no default and no value yet.
    expect(() => e.step(1)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/Argument 'n' of forward\(\) is a int: give it a value with setParameter\('n', value\)/) }));
    e.setParameter('n', 3);
    const expected = e.model.forwardSync(new Tensor(new Float32Array([1, 0, 0, 1]), [2, 2]), 3) as Tensor;
    expect(Array.from(e.step(2))).toEqual(Array.from(expected.data as Float32Array));
    expect(e.planStatus).toMatch(/^(interpreter|static runtime)/);
    expect(() => e.setParameter('m', 1).step(3)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/has no argument 'm'/) }));
    const m = new TorchEntity('mlp_loop', {});
    m.loadModel(fixture('deep_shape_error.pt'));
    m.addInput('x', { shape: [1, 4] }).value = [1, 2, 3, 4];
    m.addOutput('y');
    expect(() => m.step(1)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
  });
});

describe('TorchEntity: arguments and results other than plain tensors', () => {
  it('a Dict[str, Tensor] argument takes keyed input signals; a dict result gives an output per key', () => {
    const e = new TorchEntity('dicts', { method: 'dicts' });
    e.loadModel(fixture('kinds.pt'));
    e.addInput('left', { shape: [4], key: 'a' }).value = [1, 2, 3, 4];
    e.addInput('right', { shape: [2], key: 'b' }).value = [5, 6];
    e.addOutput('b2', { from: 'b_twice' });
    e.addOutput('a2', { from: 'a_twice' });
    expect(e.outputNames).toEqual(['a_twice', 'b_twice']);
    e.warmup({ minRuns: 2, maxRuns: 4 });
    e.output('a2').recompute(1);
    expect(Array.from(e.output('a2').value)).toEqual([2, 4, 6, 8]);
    expect(Array.from(e.output('b2').value)).toEqual([10, 12]);
    e.input('right').value = [1, 1];
    e.output('b2').recompute(2);
    expect(Array.from(e.output('b2').value)).toEqual([2, 2]);
    e.dispose();
  });

  it('a tuple result gives an output per element; a place the result does not hold is an ERR_ARGUMENT that lists those it does', () => {
    const e = new TorchEntity('tuple');
    e.loadModel(fixture('kinds.pt'));
    e.addInput('x', { shape: [4] }).value = [1, 2, 3, 4];
    e.addInput('h', { shape: [4] }).value = [1, 1, 1, 1];
    e.addOutput('product', { from: '1' });
    e.addOutput('sum');
    expect(Array.from(e.step(1))).toEqual([1, 2, 3, 4]); // the first declared output: place 1
    expect(Array.from(e.output('sum').value)).toEqual([2, 3, 4, 5]);
    e.addOutput('nope', { from: '2' });
    expect(() => e.step(2)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/takes '2' but the result holds '0', '1'/) }));
    e.dispose();
  });

  it('feedback() copies an output into an input after each step; sizes must agree', () => {
    const e = new TorchEntity('acc');
    e.loadModel(fixture('kinds.pt'));
    e.addInput('x', { shape: [4] }).value = [1, 1, 1, 1];
    e.addInput('h', { shape: [4] }).value = [0, 0, 0, 0];
    e.addOutput('sum');
    e.feedback('sum', 'h');
    e.warmup({ minRuns: 2, maxRuns: 4 }); // the fed-back input is kept as it was
    expect(Array.from(e.input('h').value)).toEqual([0, 0, 0, 0]);
    for (let t = 1; t <= 3; t++) e.step(t);
    expect(Array.from(e.output('sum').value)).toEqual([3, 3, 3, 3]); // h: 0 -> 1 -> 2, sum = 1 + h
    expect(Array.from(e.input('h').value)).toEqual([3, 3, 3, 3]);
    expect(() => e.feedback('x', 'h')).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
    const f = new TorchEntity('mismatch', { method: 'dicts' });
    f.loadModel(fixture('kinds.pt'));
    f.addInput('a', { shape: [4], key: 'a' }).value = [1, 2, 3, 4];
    f.addInput('b', { shape: [2], key: 'b' }).value = [1, 2];
    f.addOutput('a2');
    f.feedback('a2', 'b');
    expect(() => f.step(1)).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    e.dispose();
    f.dispose();
  });

  it('an int64 input signal holds numbers and feeds an integer tensor', () => {
    const m = Model.compile('def forward(self, idx: Tensor, x: Tensor) -> Tensor:\n    return x.index_select(0, idx)\n');
    const e = new TorchEntity('gather');
    e.loadModel(m);
    e.addInput('idx', { shape: [2], dtype: 'int64' }).value = [2, 0];
    e.addInput('x', { shape: [3] }).value = [10, 20, 30];
    e.addOutput('y');
    expect(Array.from(e.step(1))).toEqual([30, 10]);
    e.input('idx').value = [1, 1];
    expect(Array.from(e.step(2))).toEqual([20, 20]);
    e.dispose();
    m.dispose();
  });
});

describe('Entity: TypeScript entities and the graph', () => {
  /** A point-mass plant: its position is state, advanced by increment(), as a robot device is. */
  class Plant extends Entity {
    readonly position = new Float32Array(12);
    readonly velocity = new Float32Array(12);
    readonly torque: InputSignal;
    constructor(name: string) {
      super(name);
      this.torque = this.addInput('sin_torque', { shape: [12] });
      this.addOutput('sout_position', { shape: [12], compute: (out) => out.set(this.position) });
      this.addOutput('sout_velocity', { shape: [12], compute: (out) => out.set(this.velocity) });
    }
    /** Pulls the torque for tick t and integrates over dt. */
    increment(t: number, dt: number): void {
      this.torque.recompute(t);
      const tq = this.torque.value;
      for (let i = 0; i < 12; i++) {
        this.velocity[i] += dt * tq[i];
        this.position[i] += dt * this.velocity[i];
      }
    }
  }

  it('plugs a TorchEntity and a TS entity into a loop, pulling through the graph once per tick', () => {
    const pd = new TorchEntity('pd');
    pd.loadModel(fixture('script_pd_controller.pt'));
    for (const s of PD_INPUTS) pd.addInput(s);
    pd.addOutput('sout_torque');
    const plant = new Plant('plant');
    pd.signal('sin_kp').value = [50];
    pd.signal('sin_kd').value = [10];
    pd.signal('sin_des_position').value = new Float32Array(12).fill(1);
    pd.signal('sin_des_velocity').value = new Float32Array(12);
    plug(plant.signal('sout_position'), pd.signal('sin_position'));
    plug(plant.signal('sout_velocity'), pd.signal('sin_velocity'));
    plug(pd.signal('sout_torque'), plant.signal('sin_torque'));
    pd.warmup();
    for (let t = 0; t < 3000; t++) plant.increment(t, 0.001);
    expect(pd.latency.count).toBe(3000); // one model run per tick
    for (const p of plant.position) expect(p).toBeCloseTo(1, 2); // the PD loop tracks the target
    expect(plant.signal('sout_position').time).toBe(2999);
  });

  it('a signal cycle within one tick is a TorchError, not a stack overflow', () => {
    const a = new Entity('a');
    const b = new Entity('b');
    const ain = a.addInput('in', { shape: [1] });
    const bin = b.addInput('in', { shape: [1] });
    const aout = a.addOutput('out', { shape: [1], dependsOn: [ain], compute: (o) => (o[0] = ain.value[0] + 1) });
    const bout = b.addOutput('out', { shape: [1], dependsOn: [bin], compute: (o) => (o[0] = bin.value[0] * 2) });
    plug(aout, bin);
    plug(bout, ain);
    expect(() => aout.recompute(1)).toThrow(expect.objectContaining({ code: 'ERR_RUNTIME', message: expect.stringMatching(/Signal cycle: 'a.out'/) }));
    unplug(ain);
    ain.value = [3];
    aout.recompute(2);
    expect(aout.value[0]).toBe(4);
  });

  it('finds entities and signals by name, and lists them', () => {
    const pd = pdEntity('ctrl');
    new Plant('plant');
    expect(pool.list().sort()).toEqual(['ctrl', 'plant']);
    expect(pool.get('ctrl')).toBe(pd);
    expect(pool.signals('plant')).toEqual(['plant.sin_torque', 'plant.sout_position', 'plant.sout_velocity']);
    expect(pool.signal('ctrl.sout_torque')).toBe(pd.signal('sout_torque'));
    expect(pd.describeSignals().find((s) => s.name === 'sin_position')).toEqual({ name: 'sin_position', kind: 'input', shape: [12] });
    expect(() => pool.get('nope')).toThrow(expect.objectContaining({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/entities: .*ctrl/) }));
    expect(() => new Plant('plant')).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });
});

describe('signals: bad input is a TorchError that names the signal', () => {
  it('a missing signal lists the ones that exist', () => {
    const pd = pdEntity();
    expect(() => pd.signal('sin_kq')).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_FOUND', message: expect.stringMatching(/no signal 'sin_kq' \(signals: .*sin_kp/) }),
    );
  });

  it('a wrong length', () => {
    const pd = pdEntity();
    expect(() => (pd.signal('sin_position').value = [1, 2, 3] as never)).toThrow(
      expect.objectContaining({ code: 'ERR_SHAPE', message: "Expected 12 values for signal 'pd_controller.sin_position' (shape [12]) but received an array of length 3" }),
    );
    expect(() => (pd.signal('sin_position').value = 'x' as never)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
  });

  it('an input never set', () => {
    const e = new TorchEntity('e');
    e.loadModel(fixture('script_pd_controller.pt'));
    for (const s of PD_INPUTS) e.addInput(s, { shape: [12] });
    e.addOutput('tau');
    for (const s of PD_INPUTS.slice(0, 5)) e.input(s).value = new Float32Array(12);
    expect(() => e.warmup()).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/'e\.sin_des_velocity' has no value/) }));
    expect(() => e.step(1)).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/sin_des_velocity/) }));
  });

  it('plugging the wrong kinds of signal, or unmatched sizes', () => {
    const pd = pdEntity();
    const other = pdEntity('other');
    expect(() => plug(pd.signal('sin_kp'), other.signal('sin_kp'))).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
    expect(() => plug(pd.signal('sout_torque'), other.signal('sout_torque'))).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT' }));
    pd.warmup();
    expect(() => plug(pd.signal('sout_torque'), other.signal('sin_kp'))).toThrow(expect.objectContaining({ code: 'ERR_SHAPE' }));
    expect(() => (other.signal('sin_kp').value = [1])).not.toThrow();
  });

  it('a model without loadModel, a disposed entity', () => {
    const e = new TorchEntity('bare');
    expect(() => e.model).toThrow(expect.objectContaining({ code: 'ERR_ARGUMENT', message: expect.stringMatching(/loadModel/) }));
    const pd = pdEntity('gone');
    pd.dispose();
    expect(() => pd.step(1)).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    expect(pool.has('gone')).toBe(false);
  });
});

describe('Tracer', () => {
  it('records chosen signals each tick to CSV', () => {
    const pd = pdEntity();
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'tl-trace-')), 'trace.csv');
    const tracer = new Tracer(file, { flushEvery: 7 });
    tracer.add(pd.signal('sout_torque')).add(pd.signal('last_run_duration_ms'));
    for (let t = 0; t < 20; t++) {
      pd.signal('sout_torque').recompute(t);
      tracer.record(t);
    }
    tracer.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    expect(lines[0].split(',')).toEqual(['time', ...Array.from({ length: 12 }, (_, i) => `pd_controller.sout_torque[${i}]`), 'pd_controller.last_run_duration_ms']);
    expect(lines.length).toBe(21);
    const row = lines[5].split(',').map(Number);
    expect(row[0]).toBe(4);
    expect(row[1]).toBeCloseTo(E.pd.output.data[0], 5);
  });
});

describe('signal classes are exported for users', () => {
  it('InputSignal / OutputSignal', () => {
    const pd = pdEntity();
    expect(pd.signal('sin_kp')).toBeInstanceOf(InputSignal);
    expect(pd.signal('sout_torque')).toBeInstanceOf(OutputSignal);
    expect(TorchError).toBeDefined();
  });
});
