#!/usr/bin/env node
// Makes a fresh Debian machine ready for torchloop, and is quick when all is there:
//   1. apt packages (libtorch-dev, libopenblas0, python3-torch, cmake, g++): installed when
//      run as root, otherwise the command is printed;
//   2. npm ci when node_modules is missing or older than package-lock.json;
//   3. the native build (cmake-js) when the addon is missing or older than its sources;
//   4. the test fixtures (and with --bench the benchmark models), made by real PyTorch.
// Uses only Node's own modules, so it runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quiet = args.has('--quiet');
const bench = args.has('--bench');
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
const APT = ['libtorch-dev', 'libopenblas0', 'python3-torch', 'cmake', 'g++', 'nats-server'];
function missingApt() {
  return APT.filter((p) => {
    try {
      const out = execFileSync('dpkg-query', ['-W', '-f=${Status}', p], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return !out.includes('install ok installed');
    } catch {
      return true;
    }
  });
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

// 2. npm packages.
if (!existsSync(path.join(root, 'node_modules', '.package-lock.json')) || mtime('package-lock.json') > mtime('node_modules/.package-lock.json')) {
  run('npm', ['ci', '--no-audit', '--no-fund']);
}

// 3. The native addon.
const addon = 'build/Release/torchloop.node';
if (mtime(addon) < newestMtime(['native', 'CMakeLists.txt', 'scripts/find-libtorch.mjs'])) {
  run('npx', ['cmake-js', 'compile', '--CDCMAKE_BUILD_TYPE=Release']);
}

// 4. Fixtures made by real PyTorch.
const fixtures = 'test/fixtures';
const needFixtures = mtime(`${fixtures}/expected.json`) < mtime('scripts/make_fixtures.py') ||
  (bench && mtime(`${fixtures}/m3.onnx`) < mtime('scripts/make_fixtures.py'));
if (needFixtures) run('/usr/bin/python3', ['scripts/make_fixtures.py', fixtures, ...(bench ? ['--bench'] : [])]);
// The demo's controllers (the MLP policy is trained by PyTorch here, about 25 s, once).
if (args.has('--demo') && mtime('demo/models/mlp_policy.pt') < mtime('scripts/make_fixtures.py')) {
  run('/usr/bin/python3', ['scripts/make_fixtures.py', 'demo/models', '--demo']);
}

if (!quiet || Date.now() - started > 2000) log(`ready (${((Date.now() - started) / 1000).toFixed(1)} s)`);
