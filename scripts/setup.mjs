#!/usr/bin/env node
// Makes a fresh Debian machine ready for torchloop's development commands, and is quick when
// all is there. Every step checks before it acts:
//   1. apt packages (Debian's libtorch 1.13 and its Python, OpenBLAS, cmake, g++, nats-server;
//      with --test also clang-14 and libFuzzer for the fuzzers, Chromium for the scope test):
//      installed when run as root, otherwise the command is printed;
//   2. libtorch 2.x: a pip torch in the project's own virtual environment, .torch/ (the wheel
//      carries libtorch: lib/, include/, share/cmake/Torch);
//   3. npm ci when node_modules is missing or older than package-lock.json;
//   4. the addon (cmake-js) in build/ against libtorch 2.x (or $LIBTORCH / $Torch_DIR when
//      set), rebuilt when its sources or its libtorch changed; with --test or --bench also a
//      second addon in build-1.13/ against Debian's libtorch 1.13;
//   5. fixtures made by real PyTorch: test/fixtures/torch-2.13 by the venv's torch, and
//      test/fixtures/torch-1.13 by Debian's (/usr/bin/python3), with the valid-file corpus
//      (<fixtures>/corpus) and the zoo's outputs; the demo's models.
// Uses only Node's own modules, so it runs before `npm ci`.
//
//   node scripts/setup.mjs [--quiet] [--demo] [--test] [--bench]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROJECT_VENV } from './find-libtorch.mjs';
import { BUILDS, addonOf } from './builds.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const bench = args.has('--bench');
const both = args.has('--test') || bench;
const log = (msg) => console.log(`[setup] ${msg}`);
const started = Date.now();

function run(cmd, argv, opts = {}) {
  log(`$ ${cmd} ${argv.join(' ')}`);
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...opts.env } });
  if (r.status !== 0) {
    console.error(`[setup] failed: ${cmd} ${argv.join(' ')} (exit ${r.status ?? r.signal})`);
    process.exit(r.status || 1);
  }
}

function newestMtime(paths) {
  let newest = 0;
  const visit = (p) => {
    if (!existsSync(p)) return;
    const s = statSync(p);
    if (s.isDirectory()) for (const e of readdirSync(p)) visit(path.join(p, e));
    else newest = Math.max(newest, s.mtimeMs);
  };
  paths.forEach((p) => visit(path.join(root, p)));
  return newest;
}
const mtime = (p) => (existsSync(path.join(root, p)) ? statSync(path.join(root, p)).mtimeMs : 0);

// 1. System packages.
const APT = ['libtorch-dev', 'libopenblas0', 'python3-torch', 'cmake', 'g++', 'nats-server', 'libgloo-dev'];
// For npm test (and CI): the fuzzers' compiler and runtime (clang-14 with libFuzzer), zlib's headers.
if (both) APT.push('clang-14', 'libfuzzer-14-dev', 'libclang-rt-14-dev', 'zlib1g-dev', 'chromium');
function missingApt() {
  // One dpkg-query for all (a query per package cost about 40 ms each).
  let out = '';
  try {
    out = execFileSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...APT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch (e) {
    out = String(e.stdout ?? ''); // exits 1 when a package is unknown, still listing the others
  }
  const installed = new Set(out.split('\n').filter((l) => l.endsWith('install ok installed')).map((l) => l.split(' ')[0].split(':')[0]));
  return APT.filter((p) => !installed.has(p));
}
const missing = missingApt();
if (missing.length) {
  if (process.getuid?.() === 0) {
    log(`installing ${missing.join(' ')} (apt)`);
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env: { DEBIAN_FRONTEND: 'noninteractive' } });
  } else {
    console.error(`[setup] missing system packages: ${missing.join(' ')}\n  run: sudo apt-get update && sudo apt-get install -y ${missing.join(' ')}`);
    process.exit(1);
  }
}

// 2. libtorch 2.x in the project's venv (skipped when the user points at a libtorch).
const TORCH_SPEC = process.env.TORCHLOOP_TORCH_SPEC ?? 'torch==2.13.0+cpu';
const VENV_PACKAGES = [TORCH_SPEC, 'numpy', 'onnx', 'tensorboard==2.21.*', 'safetensors', 'mujoco==3.14.0', 'pyyaml', 'nats-py', 'pynacl'];
const venvPython = path.join(PROJECT_VENV, 'bin', 'python');
const stamp = path.join(PROJECT_VENV, 'torchloop-packages.txt');
const wanted = VENV_PACKAGES.join('\n');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== wanted) {
  if (!existsSync(venvPython)) run('python3', ['-m', 'venv', PROJECT_VENV]);
  // --retries 0: on machines with only a local wheel store, do not wait on an unreachable index.
  run(venvPython, ['-m', 'pip', 'install', '--quiet', '--retries', '0', '--disable-pip-version-check', ...VENV_PACKAGES]);
  writeFileSync(stamp, wanted);
}

// The Python environment client (python/torchloop_env), installed from the checkout as a user
// installs it, for the tests that run Python simulators against torchloop.
const pyClient = path.join(PROJECT_VENV, 'torchloop-env.stamp');
if (both && mtime(path.relative(root, pyClient)) < newestMtime(['python/torchloop_env/torchloop_env', 'python/torchloop_env/pyproject.toml'])) {
  run(venvPython, ['-m', 'pip', 'install', '--quiet', '--retries', '0', '--disable-pip-version-check', '--no-deps', './python/torchloop_env']);
  writeFileSync(pyClient, new Date().toISOString());
}

// 3. npm packages.
if (!existsSync(path.join(root, 'node_modules', '.package-lock.json')) || mtime('package-lock.json') > mtime('node_modules/.package-lock.json')) {
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// 4. The addons. A build is redone when a source is newer, or when it was made against
// another libtorch than the one it should use now.
const sources = newestMtime(['native', 'CMakeLists.txt', 'scripts/find-libtorch.mjs']);
for (const build of BUILDS) {
  if (build.name !== 'main' && !both) continue;
  const env = build.env();
  const want = JSON.parse(execFileSync(process.execPath, [path.join(root, 'scripts', 'find-libtorch.mjs')], { encoding: 'utf8', env: { ...process.env, ...env } }));
  const addon = addonOf(build);
  const against = existsSync(addon) ? /torchloop-built-against: libtorch \S+ in ([^\0]+)/.exec(readFileSync(addon, 'latin1'))?.[1] : undefined;
  if (mtime(path.relative(root, addon)) < sources || against !== want.libDir) {
    log(`building ${path.relative(root, addon)} against libtorch ${want.version} (${want.libDir})`);
    run('npx', ['cmake-js', 'compile', '--CDCMAKE_BUILD_TYPE=Release', '--out', build.dir], { env });
  }
}

// 5. Fixtures made by real PyTorch, one folder per version that saved them.
const fixtureScript = mtime('scripts/make_fixtures.py');
for (const build of BUILDS) {
  if (build.name !== 'main' && !both) continue;
  const out = build.fixtures;
  const stale = mtime(`${out}/expected.json`) < fixtureScript || (bench && mtime(`${out}/m3.onnx`) < fixtureScript);
  if (stale) run(build.python(), ['scripts/make_fixtures.py', out, ...(bench ? ['--bench'] : [])]);
}
// The valid-file corpus (scripts/make_corpus.py): every scriptable torch.nn module, the
// TorchScript language, traced and frozen modules, and a model calling the operator library
// the addon build made (test/native/my_ops.cc), each saved by the PyTorch of each build.
if (both) {
  const corpusScript = mtime('scripts/make_corpus.py');
  for (const build of BUILDS) {
    const opsLib = path.join(build.dir, 'test-ops', 'libmy_ops.so');
    const manifest = `${build.fixtures}/corpus/manifest.json`;
    if (mtime(manifest) < Math.max(corpusScript, mtime(opsLib))) {
      run(build.python(), ['scripts/make_corpus.py', `${build.fixtures}/corpus`, ...(existsSync(path.join(root, opsLib)) ? ['--ops-lib', opsLib] : [])]);
    }
  }
}
// The zoo: real TorchScript files others published (../shared/real-models, or TORCHLOOP_ZOO),
// with the outputs each PyTorch computes on them (scripts/zoo_golden.py), for tests and bench.
const zooDir = process.env.TORCHLOOP_ZOO ?? path.resolve(root, '..', 'shared', 'real-models');
if (existsSync(zooDir)) {
  const zooScript = mtime('scripts/zoo_golden.py');
  for (const build of BUILDS) {
    if (build.name !== 'main' && !both) continue;
    const marker = `${build.fixtures}/zoo/.done`;
    if (mtime(marker) < zooScript) {
      run(build.python(), ['scripts/zoo_golden.py', build.fixtures, zooDir]);
      writeFileSync(path.join(root, marker), zooDir);
    }
  }
}

// AOTInductor packages (.pt2) made by the main build's PyTorch 2.x with torchloop compile's own
// code (scripts/make_packages.py): M1 to M3 and the zoo models that convert, with PyTorch's
// outputs. About 15 to 20 s a model on two cores; made once, remade when a script changes.
if (both) {
  const build = BUILDS[0];
  const marker = `${build.fixtures}/pt2/expected.json`;
  const inputs = [mtime('scripts/make_packages.py'), mtime('python/compile_pt2.py'), fixtureScript, mtime(`${build.fixtures}/zoo/.done`)];
  if (mtime(marker) < Math.max(...inputs)) run(build.python(), ['scripts/make_packages.py', build.fixtures, zooDir]);
}

// The sim2sim reference: the authors' own deploy_mujoco.py, run headless by the pip wheel's
// MuJoCo 3.14 and PyTorch 2.13 for 10 s of simulated time (scripts/sim2sim_reference.py);
// the test compares torchloop's trajectory with it.
const robotsDir = path.join(process.env.TORCHLOOP_ROBOTS ?? path.resolve(root, '..', 'shared', 'robots'), 'unitree_rl_gym');
if (both && existsSync(path.join(robotsDir, 'deploy', 'deploy_mujoco', 'deploy_mujoco.py'))) {
  const out = 'test/fixtures/sim2sim/h1.json';
  if (mtime(out) < mtime('scripts/sim2sim_reference.py')) {
    run(BUILDS[0].python(), ['scripts/sim2sim_reference.py', robotsDir, 'h1.yaml', '10', out]);
  }
}

// The demo's controllers.
if (args.has('--demo') && mtime('demo/models/script_pd_controller.pt') < fixtureScript) {
  run(BUILDS[0].python(), ['scripts/make_fixtures.py', 'demo/models', '--demo']);
}
// The MLP policy is trained (about 25 s) only when the demo asks for it (--policy mlp).
if (args.has('--demo-mlp') && mtime('demo/models/mlp_policy.pt') < fixtureScript) {
  run(BUILDS[0].python(), ['scripts/make_fixtures.py', 'demo/models', '--demo-mlp']);
}

if (!quiet || Date.now() - started > 2000) log(`ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
