// AOTInductor packages (.pt2): made at setup by PyTorch 2.13 with torchloop compile's own code
// (scripts/make_packages.py: M1 to M3 and the zoo models that convert), loaded by Model.load
// and stepped by TorchEntity, against what PyTorch's own runner (aoti_load_package) returned.
// On the libtorch 1.13 build, a package is ERR_UNSUPPORTED with the reason.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Model, Tensor, TorchEntity } from '../../lib/index.ts';
import { readZip, writeZip } from '../../scripts/fuzz/mutate.ts';
import { caught } from '../helpers/caught.ts';
import { FIXTURES_BY_TORCH, PYTHON, expectClose, tensorOf, type Saved } from '../helpers/fixtures.ts';

const PT2 = path.join(FIXTURES_BY_TORCH['2.13'], 'pt2');
const ZOO = path.resolve('..', 'shared', 'real-models');
const is113 = process.env.TORCHLOOP_BUILD === '1.13';
const expected: Record<string, { source: string; inputs: Saved[]; outputs?: Saved[]; error?: string }> = existsSync(path.join(PT2, 'expected.json'))
  ? JSON.parse(readFileSync(path.join(PT2, 'expected.json'), 'utf8'))
  : {};
const compiled = Object.entries(expected).filter(([, r]) => !r.error);
const pkg = (name: string) => path.join(PT2, `${name}.pt2`);
const flat = (v: unknown): Tensor[] => (v instanceof Tensor ? [v] : Array.isArray(v) ? v.flatMap(flat) : []);
const tempCopies = () => readdirSync(os.tmpdir()).filter((f) => f.startsWith('torchloop-pt2-')).length;

/** The package's bytes with its metadata records edited (what the loader checks before loading code). */
function withMetadata(file: string, edit: (meta: Record<string, string>) => void): Buffer {
  const entries = readZip(readFileSync(file));
  for (const e of entries) {
    if (!e.name.endsWith('_metadata.json')) continue;
    const meta = JSON.parse(e.data.toString('utf8'));
    edit(meta);
    e.data = Buffer.from(JSON.stringify(meta));
  }
  return writeZip(entries);
}

describe.skipIf(is113)('AOTInductor packages on libtorch 2.x', () => {
  it('setup compiled M1, M2, M3 and the zoo models that convert', () => {
    expect(Object.keys(expected)).toEqual(expect.arrayContaining(['m1', 'm2', 'm3']));
    for (const name of ['m1', 'm2', 'm3']) expect(expected[name].error).toBeUndefined();
    if (existsSync(ZOO)) {
      // The MLP policies convert; the LSTM policies (rsl_rl's exporter: g1, h1) are rebuilt
      // with their cells as linears and gates, their state in the package's buffers.
      for (const f of ['go2_motion', 'g1_motion', 'h1_motion']) expect(expected[`unitreerobotics__unitree_rl_gym__${f}.pt`]?.error).toBeUndefined();
    }
  });

  it.each(compiled)('%s: sync and async calls give what PyTorch aoti_load_package gave', async (name, rec) => {
    // A model each: a recurrent policy's first call starts from its first state.
    const m = await Model.load(pkg(name)), m2 = Model.loadSync(pkg(name));
    expect(m.format).toBe('aoti');
    expect(m.methods).toEqual(['forward']);
    const xs = rec.inputs.map(tensorOf);
    const sync = flat(m2.forwardSync(...xs));
    m2.dispose();
    const viaWorker = flat(await m.forward(...xs));
    expect(sync.length).toBe(rec.outputs!.length);
    rec.outputs!.forEach((want, i) => {
      expectClose(sync[i], want, 1e-5);
      expectClose(viaWorker[i], want, 1e-5);
    });
    m.dispose();
  });

  it('a package gives what its TorchScript source gives, and is loaded from a Buffer too', () => {
    using pt = Model.loadSync(path.join(FIXTURES_BY_TORCH['2.13'], 'mlp_m2.pt'));
    using p2 = Model.loadSync(readFileSync(pkg('m2')));
    const x = tensorOf(expected.m2.inputs[0]);
    const a = pt.forwardSync(x) as Tensor, b = p2.forwardSync(x) as Tensor;
    const da = a.data as Float32Array, db = b.data as Float32Array;
    for (let i = 0; i < da.length; i++) expect(Math.abs(da[i] - db[i])).toBeLessThan(1e-5);
    expect(p2.signature('forward')).toEqual({ name: 'forward', arguments: [{ name: 'input', type: 'Tensor', hasDefault: false }], returns: 'Tensor' });
    expect(p2.packageInfo?.inputs).toEqual([{ name: 'input', shape: [1, 48], dtype: 'float32' }]);
    expect(p2.packageInfo?.metadata['torchloop.source']).toBe('mlp_m2.pt');
  });

  it('a TorchEntity steps a package: M1 from six 12-vectors, M2 from a 48-vector signal fed as [1, 48]', () => {
    const m1 = new TorchEntity('pd');
    m1.loadModel(pkg('m1'));
    const x1 = expected.m1.inputs;
    x1.forEach((t, i) => {
      m1.addInput(`in${i}`);
      m1.input(`in${i}`).value = Float32Array.from(t.data);
    });
    m1.addOutput('torque');
    const w = m1.warmup();
    expect(w.path).toBe('aoti package');
    m1.output('torque').recompute(1);
    const got = Array.from(m1.output('torque').value as Float32Array);
    expected.m1.outputs![0].data.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    expect(m1.lastRunDurationMs).toBeGreaterThan(0);

    const m2 = new TorchEntity('policy');
    m2.loadModel(pkg('m2'));
    m2.addInput('obs');
    m2.input('obs').value = Float32Array.from(expected.m2.inputs[0].data);
    m2.addOutput('action');
    m2.warmup();
    m2.output('action').recompute(1);
    const a = Array.from(m2.output('action').value as Float32Array);
    expected.m2.outputs![0].data.forEach((v, i) => expect(a[i]).toBeCloseTo(v, 5));
  });

  it.skipIf(!existsSync(ZOO))("a recurrent package keeps its state from step to step as the .pt does, and warmup() puts it back", () => {
    const g1 = 'unitreerobotics__unitree_rl_gym__g1_motion.pt';
    using p = Model.loadSync(pkg(g1));
    expect(p.packageInfo?.metadata['torchloop.state']).toBe('hidden_state,cell_state');
    const entity = (m: string) => {
      const e = new TorchEntity(`g1_${m.length}`);
      e.loadModel(m);
      e.addInput('obs', { shape: [1, 47] });
      e.input('obs').value = new Float32Array(47).fill(0.3);
      e.addOutput('action');
      return e;
    };
    const a = entity(pkg(g1)), b = entity(path.join(ZOO, g1));
    expect(a.warmup().path).toBe('aoti package');
    expect(a.nativeStep.stateful()).toBe(true);
    b.warmup();
    let moved = 0;
    for (let t = 1; t <= 8; t++) {
      const v = new Float32Array(47).map((_, i) => Math.sin(i * t));
      a.input('obs').value = v;
      b.input('obs').value = v;
      a.output('action').recompute(t);
      b.output('action').recompute(t);
      const ya = a.output('action').value, yb = b.output('action').value;
      for (let i = 0; i < ya.length; i++) expect(Math.abs(ya[i] - yb[i])).toBeLessThan(1e-4);
      moved = Math.max(moved, Math.abs(ya[0]));
    }
    expect(moved).toBeGreaterThan(0);
    a.dispose();
    b.dispose();
  });

  it('100,000 steps of the M2 package cause zero GCs', () => {
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', 'test/helpers/zero-gc.ts', 'pt2/m2.pt2', '100000'], {
      encoding: 'utf8', env: { ...process.env, TORCHLOOP_FIXTURES: FIXTURES_BY_TORCH['2.13'] },
    });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.gcs).toBe(0);
    expect(r.heapGrowthBytes).toBeLessThan(1_000_000);
    expect(r.path).toBe('aoti package');
  });

  it('inputs of another shape, dtype or count are refused before the compiled code sees them', () => {
    using m = Model.loadSync(pkg('m2'));
    expect(caught(() => m.forwardSync(new Tensor(new Float32Array(47), [1, 47]))).code).toBe('ERR_SHAPE');
    expect(caught(() => m.forwardSync(new Tensor(new Float64Array(48), [1, 48]))).code).toBe('ERR_DTYPE');
    expect(caught(() => m.forwardSync()).code).toBe('ERR_ARGUMENT');
    expect(caught(() => m.callSync('reset')).code).toBe('ERR_NOT_FOUND');
    const e = new TorchEntity('bad');
    e.loadModel(m);
    e.addInput('x');
    e.input('x').value = new Float32Array(40);
    e.addOutput('y');
    expect(caught(() => e.warmup()).code).toBe('ERR_SHAPE');
  });

  it('what only TorchScript can do is ERR_UNSUPPORTED, saying why', () => {
    using m = Model.loadSync(pkg('m2'));
    expect(Object.keys(m.parameters())).toEqual([]);
    for (const fn of [() => m.train(), () => m.save(path.join(os.tmpdir(), 'never.pt')), () => m.loadStateDict({ w: new Tensor(new Float32Array(1), [1]) })]) {
      const e = caught(fn);
      expect(e.code).toBe('ERR_UNSUPPORTED');
      expect(e.message).toMatch(/AOTInductor package/);
    }
    expect(existsSync(path.join(os.tmpdir(), 'never.pt'))).toBe(false);
  });

  it('a package for instructions this CPU lacks is ERR_MODEL_LOAD naming them, never SIGILL', () => {
    const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].split(/\s+/) ?? [];
    const lacking = [['AMX_TILE', 'amx_tile'], ['AVX512_VNNI', 'avx512_vnni'], ['AVX512', 'avx512f']].find(([, f]) => !flags.includes(f));
    if (lacking) {
      const bytes = withMetadata(pkg('m2'), (meta) => (meta.AOTI_CPU_ISA = `AVX512 ${lacking[0]}`));
      const e = caught(() => Model.loadSync(bytes));
      expect(e.code).toBe('ERR_MODEL_LOAD');
      expect(e.message).toContain(`this CPU lacks ${lacking[0]}`);
      expect(e.message).toMatch(/illegal instruction/);
    }
    const arm = caught(() => Model.loadSync(withMetadata(pkg('m2'), (meta) => (meta.AOTI_MACHINE = 'aarch64'))));
    expect(arm.code).toBe('ERR_MODEL_LOAD');
    expect(arm.message).toMatch(/compiled for aarch64 CPUs/);
    const gpu = caught(() => Model.loadSync(withMetadata(pkg('m2'), (meta) => (meta.AOTI_DEVICE_KEY = 'cuda'))));
    expect(gpu.code).toBe('ERR_DEVICE');
    expect(gpu.message).toMatch(/compiled for 'cuda'/);
    const newer = caught(() => Model.loadSync(withMetadata(pkg('m2'), (meta) => (meta['torchloop.torch_version'] = '2.99.0'))));
    expect(newer.code).toBe('ERR_MODEL_LOAD');
    expect(newer.message).toMatch(/compiled by PyTorch 2\.99\.0, newer than this libtorch/);
  });

  it('damaged packages are refused by the validating reader, and leave no temporary files', () => {
    const before = tempCopies();
    const entries = readZip(readFileSync(pkg('m2')));
    const prefix = entries[0].name.split('/')[0];
    const climbing = writeZip([...entries, { name: `${prefix}/../../evil.so`, data: Buffer.from('x'), deflated: false }]);
    const e1 = caught(() => Model.loadSync(climbing));
    expect(e1.code).toBe('ERR_MODEL_LOAD');
    expect(e1.message).toMatch(/outside the package's folder/);
    const raw = readFileSync(pkg('m2'));
    for (const cut of [raw.length - 10, raw.length >> 1, 200]) {
      expect(caught(() => Model.loadSync(raw.subarray(0, cut))).code).toBe('ERR_MODEL_LOAD');
    }
    const noLibrary = writeZip(entries.filter((x) => !x.name.endsWith('.so')));
    expect(caught(() => Model.loadSync(noLibrary)).message).toMatch(/no compiled library/);
    expect(tempCopies()).toBe(before);
  });
});

// Compiling takes 10 to 45 s a model here, more on a cold inductor cache: these tests wait for it.
describe.skipIf(is113)('torchloop compile', () => {
  const cli = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', ...args], { encoding: 'utf8', timeout: 300_000 });
  const go2 = path.join(ZOO, 'unitreerobotics__unitree_rl_gym__go2_motion.pt');
  const source = existsSync(go2) ? go2 : path.join(FIXTURES_BY_TORCH['2.13'], 'mlp_m2.pt');

  it('compiles a TorchScript file, checks it against it, times both, and the package loads', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-compile-'));
    try {
      const out = path.join(dir, 'policy.pt2');
      const r = cli(['compile', source, '--input', '1x48', '-o', out, '--json']);
      expect(r.status, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(report.maxAbsDiff).toBeLessThan(1e-4);
      expect(report.options).toMatch(/max-autotune/);
      expect(report.timing.source.entity.p50).toBeGreaterThan(0);
      expect(report.timing.package.entity.p50).toBeGreaterThan(0);
      expect(report.timing.speedup).toBeCloseTo(report.timing.source.entity.p50 / report.timing.package.entity.p50, 6);
      using m = Model.loadSync(out);
      expect(m.packageInfo?.inputs[0].shape).toEqual([1, 48]);
      // Nothing but the package was left in the folder.
      expect(readdirSync(dir)).toEqual(['policy.pt2']);
      // An existing file that is not a package is never overwritten; a package only with --force.
      const mine = path.join(dir, 'notes.pt2');
      writeFileSync(mine, 'my notes');
      const refused = cli(['compile', source, '--input', '1x48', '-o', mine]);
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/ERR_ARGUMENT: .*is not a \.pt2 package/);
      expect(readFileSync(mine, 'utf8')).toBe('my notes');
      expect(cli(['compile', source, '--input', '1x48', '-o', out]).stderr).toMatch(/pass --force/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('compiles a Python module (--module pkg.mod:factory)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-compile-'));
    try {
      writeFileSync(path.join(dir, 'tiny_policy.py'), [
        'import torch',
        'def make():',
        '    torch.manual_seed(3)',
        '    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ELU(), torch.nn.Linear(16, 2))',
      ].join('\n'));
      const out = path.join(dir, 'tiny.pt2');
      // The module is found on PYTHONPATH (or in the current folder).
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'lib/cli/main.ts', 'compile', '--module', 'tiny_policy:make', '--input', '1x8', '-o', out, '--no-bench', '--json'],
        { encoding: 'utf8', env: { ...process.env, PYTHONPATH: dir }, timeout: 300_000 });
      expect(r.status, r.stderr).toBe(0);
      using m = Model.loadSync(out);
      expect((m.forwardSync(new Tensor(new Float32Array(8).fill(1), [1, 8])) as Tensor).shape).toEqual([1, 2]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);

  it('a model the converter cannot take says what to do (a scripted nn.LSTM fed its state from buffers of its own)', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-compile-'));
    try {
      const src = path.join(dir, 'rnn.pt');
      // torch.jit.script reads the class's source: a file, not python -c.
      writeFileSync(path.join(dir, 'make_rnn.py'), [
        'import sys, torch',
        'class M(torch.nn.Module):',
        '    def __init__(self):',
        '        super().__init__()',
        '        self.rnn = torch.nn.LSTM(8, 16)',
        '        self.register_buffer("h0", torch.zeros(1, 1, 16))',
        '        self.register_buffer("c0", torch.zeros(1, 1, 16))',
        '    def forward(self, x):',
        '        out, (h, c) = self.rnn(x, (self.h0, self.c0))',
        '        self.h0[:] = h',
        '        self.c0[:] = c',
        '        return out',
        'torch.jit.script(M()).save(sys.argv[1])',
      ].join('\n'));
      execFileSync(PYTHON, [path.join(dir, 'make_rnn.py'), src], { stdio: 'ignore' });
      const out = path.join(dir, 'rnn.pt2');
      const r = cli(['compile', src, '--input', '1x1x8', '-o', out]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/ERR_ARGUMENT: .*cannot convert rnn\.pt: .*prim::If.*--module pkg\.mod:factory/s);
      expect(existsSync(out)).toBe(false);
      expect(readdirSync(dir).sort()).toEqual(['make_rnn.py', 'rnn.pt']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 600_000);
});

describe.skipIf(!is113)('AOTInductor packages on libtorch 1.13', () => {
  it.skipIf(!existsSync(pkg('m2')))('a .pt2 is ERR_UNSUPPORTED, with the reason', () => {
    const e = caught(() => Model.loadSync(pkg('m2')));
    expect(e.code).toBe('ERR_UNSUPPORTED');
    expect(e.message).toMatch(/AOTInductor package \(\.pt2\).*libtorch 1\.13.*has no AOTInductor/);
  });
});
