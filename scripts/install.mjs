#!/usr/bin/env node
// torchloop's npm install script: what `npm install torchloop` (and `npm rebuild torchloop`)
// runs in a user's project, as better-sqlite3 and sharp do for their addons:
//   1. a prebuild in prebuilds/ or an earlier build in build/ that loads here (the libtorch it
//      was built against is present and of the same version) is used as it is;
//   2. otherwise the addon is built from source with cmake-js (a dependency of torchloop)
//      against the libtorch that scripts/find-libtorch.mjs finds; with TORCHLOOP_PIP_TORCH=1
//      and none found, torchloop first makes a pip torch of its own in ~/.cache/torchloop;
//   3. no libtorch, or no cmake/g++: the install fails with what was searched and the commands
//      that fix it.
// In a checkout of torchloop itself it does nothing (`npm run setup` builds there), and
// TORCHLOOP_SKIP_BUILD=1 skips it (the first `import` then says what is missing).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { findLibtorch, notFoundMessage } from './find-libtorch.mjs';
import { DEFAULT_TORCH_SPEC, ensurePipTorch, userVenv } from './pip-torch.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const log = (msg) => console.error(`torchloop: ${msg}`);

if (existsSync(path.join(root, 'scripts', 'setup.mjs'))) process.exit(0);
if (process.env.TORCHLOOP_SKIP_BUILD === '1') {
  log('TORCHLOOP_SKIP_BUILD=1: the native addon is not built; run `npm rebuild torchloop` to build it.');
  process.exit(0);
}

// 1. An addon that is already there and loads with the libtorch it was built against.
function loads(file) {
  const probe = `const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(file)}, require('os').constants.dlopen.RTLD_NOW);`;
  return spawnSync(process.execPath, ['-e', probe], { stdio: 'ignore', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } }).status === 0;
}
try {
  const file = require('node-gyp-build').path(root);
  if (loads(file)) {
    log(`using ${path.relative(root, file)}`);
    process.exit(0);
  }
  log(`${path.relative(root, file)} does not load here (its libtorch is missing or another version): building from source`);
} catch {
  // No prebuild for this platform and no build yet.
}

// 2. libtorch.
let { found, tried, explicit } = findLibtorch();
if (!found && !explicit && process.env.TORCHLOOP_PIP_TORCH === '1') {
  const venv = userVenv();
  const spec = process.env.TORCHLOOP_TORCH_SPEC ?? DEFAULT_TORCH_SPEC;
  log(`TORCHLOOP_PIP_TORCH=1: installing ${spec} into ${venv}`);
  try {
    ensurePipTorch(venv, [spec], { log });
  } catch (e) {
    log(`${e.message}\nSet TORCHLOOP_TORCH_SPEC to another torch, or TORCHLOOP_PIP_ARGS to extra pip arguments ` +
      '(for example --index-url https://download.pytorch.org/whl/cpu).');
    process.exit(1);
  }
  ({ found, tried } = findLibtorch());
}
if (!found) {
  console.error(notFoundMessage(tried));
  process.exit(1);
}
if (process.env.TORCHLOOP_INSTALL_DRY_RUN === '1') {
  // For tests: say what the build would use, and stop.
  console.log(JSON.stringify({ wouldBuildAgainst: found }));
  process.exit(0);
}

// 3. The build tools cmake-js drives.
for (const [tool, args] of [['cmake', ['--version']], [process.env.CXX || 'c++', ['--version']]]) {
  const r = spawnSync(tool, args, { stdio: 'ignore' });
  if (r.error || r.status !== 0) {
    console.error(`torchloop: building the native addon needs ${tool}, which is not on PATH.\n` +
      '  Debian/Ubuntu: sudo apt-get install cmake g++\n  then: npm rebuild torchloop');
    process.exit(1);
  }
}

log(`building the native addon against libtorch ${found.version} (${found.source}: ${found.root}); this takes a few minutes`);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
// The build's own finder (CMakeLists.txt) is pointed at the very folder found here.
const env = { ...process.env, Torch_DIR: found.cmakeDir };
delete env.LIBTORCH;
const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--CDCMAKE_BUILD_TYPE=Release', '--directory', root, '--out', path.join(root, 'build')], {
  cwd: root, stdio: ['ignore', 'inherit', 'inherit'], env,
});
if (r.status !== 0) {
  log(`the build failed (exit ${r.status ?? r.signal}); the output above says why.`);
  process.exit(1);
}
const built = path.join(root, 'build', 'Release', 'torchloop.node');
if (!loads(built)) {
  log(`${built} was built but does not load; run \`node -e "import('torchloop')"\` to see why.`);
  process.exit(1);
}
log(`built ${path.relative(root, built)} against libtorch ${found.version}`);
