#!/usr/bin/env node
// Finds libtorch for every build (CMakeLists.txt, binding.gyp, the install script), so they
// cannot drift. Candidates, in order:
//   1. $LIBTORCH: a libtorch folder (the LibTorch zip, or a pip install's site-packages/torch);
//   2. $Torch_DIR: a folder holding TorchConfig.cmake;
//   3. the package's own pip torch: <package>/.torch (made by `npm run setup` in a checkout);
//   4. the user's pip torch for torchloop: ~/.cache/torchloop/torch (TORCHLOOP_PIP_TORCH=1 at
//      install, or `npx torchloop setup-libtorch`; $TORCHLOOP_HOME/torch when set);
//   5. a pip torch that python3 on PATH imports ($TORCHLOOP_PYTHON first, when set);
//   6. the system's: Debian's libtorch-dev (/usr/lib/<arch>/cmake/Torch) and /usr/local.
// A candidate counts only when its headers, its libraries and its cmake files are all there
// and agree on the version; the first that does wins, and the others are reported.
//
//   node scripts/find-libtorch.mjs              -> JSON { source, root, cmakeDir, include[], libDir, version, cxxAbi, cxxStd, cuda }
//   node scripts/find-libtorch.mjs --explain    -> what was looked at and why each was taken or not
//   node scripts/find-libtorch.mjs --cmake-dir | --lib-dir | --include | --cxx-abi | --cxx-std | --version | --gloo-define | --gloo-include
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { userVenv } from './pip-torch.mjs';

const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ARCH_DIR = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch] ?? `${process.arch}-linux-gnu`;
export const SYSTEM_DIRS = [`/usr/lib/${ARCH_DIR}/cmake/Torch`, '/usr/lib/cmake/Torch', '/usr/local/share/cmake/Torch', '/usr/local/lib/cmake/Torch'];
export const PROJECT_VENV = path.join(packageRoot, '.torch');

/**
 * The commands that give this machine a libtorch, for error messages. Each works before
 * torchloop is installed (an install without libtorch fails), and each is tested
 * (test/package/remedies.test.ts). After one, install again (or `npm rebuild torchloop`).
 */
export const REMEDIES = [
  'let torchloop make a pip torch (2.13, CPU) in ~/.cache/torchloop:  TORCHLOOP_PIP_TORCH=1 npm install torchloop',
  'a pip torch that python3 imports:                                  python3 -m pip install torch==2.13.0+cpu',
  'a LibTorch zip you unpacked:                                       LIBTORCH=/path/to/libtorch npm install torchloop',
  "Debian's libtorch 1.13:                                            sudo apt-get install libtorch-dev libopenblas0",
];

const read = (p) => readFileSync(p, 'utf8');

function headerVersion(includeDir) {
  // 2.x keeps the numbers in torch/headeronly/version.h; 1.x in the C++ API's version.h.
  const file = [path.join(includeDir, 'torch', 'headeronly', 'version.h'), path.join(includeDir, 'torch', 'csrc', 'api', 'include', 'torch', 'version.h')]
    .find((f) => existsSync(f));
  if (!file) return null;
  const text = read(file);
  const part = (n) => new RegExp(`#define TORCH_VERSION_${n} (\\d+)`).exec(text)?.[1];
  return part('MAJOR') ? `${part('MAJOR')}.${part('MINOR')}.${part('PATCH')}` : null;
}

// Describes a candidate from its cmake folder, or says why it is not usable.
export function inspectCmakeDir(cmakeDir, source) {
  if (!cmakeDir || !existsSync(path.join(cmakeDir, 'TorchConfig.cmake'))) return { error: `no TorchConfig.cmake in ${cmakeDir}` };
  // A libtorch or pip layout is <root>/share/cmake/Torch; Debian's is <libdir>/cmake/Torch with headers in /usr/include.
  let root = path.resolve(cmakeDir, '..', '..', '..');
  let includeDir = path.join(root, 'include');
  let libDir = path.join(root, 'lib');
  if (!existsSync(path.join(includeDir, 'torch'))) {
    libDir = path.resolve(cmakeDir, '..', '..');
    root = path.resolve(libDir, '..', '..');
    includeDir = path.join(root, 'include');
  }
  const version = headerVersion(includeDir);
  if (!version) return { error: `no torch headers in ${includeDir}` };
  const libs = existsSync(libDir) ? readdirSync(libDir) : [];
  const missing = ['torch_cpu', 'c10'].filter((l) => !libs.some((f) => f === `lib${l}.so` || f.startsWith(`lib${l}.so.`)));
  if (missing.length) return { error: `no ${missing.map((l) => `lib${l}.so`).join(', ')} in ${libDir}` };
  const configVersionFile = path.join(cmakeDir, 'TorchConfigVersion.cmake');
  const cmakeVersion = existsSync(configVersionFile) ? /PACKAGE_VERSION "([^"]+)"/.exec(read(configVersionFile))?.[1] : undefined;
  // Headers, libraries and cmake files must come from one libtorch; a mix is how a build ends
  // up compiled against one version and linked against another.
  if (cmakeVersion && cmakeVersion.split('.').slice(0, 2).join('.') !== version.split('.').slice(0, 2).join('.')) {
    return { error: `headers say ${version} but TorchConfigVersion.cmake says ${cmakeVersion}` };
  }
  const config = read(path.join(cmakeDir, 'TorchConfig.cmake'));
  const flags = existsSync(path.join(cmakeDir, '..', 'Caffe2', 'Caffe2Targets.cmake')) ? read(path.join(cmakeDir, '..', 'Caffe2', 'Caffe2Targets.cmake')) : '';
  const cxxAbi = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(config + flags)?.[1] ?? '1';
  // The C++ standard libtorch asks of its users: 2.x's headers use C++20 concepts.
  const cxxStd = String(Math.max(17, Number(/CXX_STANDARD (\d+)/.exec(config)?.[1] ?? 17)));
  return {
    source,
    root,
    cmakeDir,
    include: [includeDir, path.join(includeDir, 'torch', 'csrc', 'api', 'include')],
    libDir,
    version,
    cxxAbi,
    cxxStd,
    cuda: libs.some((f) => f.startsWith('libtorch_cuda.so')),
  };
}

// A pip torch's folder without importing torch (that takes seconds): find_spec only locates it.
function pythonTorchDir(python) {
  try {
    const out = execFileSync(python, ['-c', "import importlib.util as u; s = u.find_spec('torch'); print(s.submodule_search_locations[0] if s else '')"], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 20000,
    }).trim();
    return out || null;
  } catch {
    return null;
  }
}

export function venvTorchDir(venv = PROJECT_VENV) {
  const lib = path.join(venv, 'lib');
  if (!existsSync(lib)) return null;
  for (const py of readdirSync(lib).filter((d) => d.startsWith('python'))) {
    const dir = path.join(lib, py, 'site-packages', 'torch');
    if (existsSync(dir)) return dir;
  }
  return null;
}

// `options` exist for tests: other venv folders, no python3 lookup, no system folders.
export function findLibtorch(env = process.env, { venv = PROJECT_VENV, user = userVenv(env), python = true, system = SYSTEM_DIRS } = {}) {
  const tried = [];
  const attempt = (what, cmakeDir, source) => {
    const r = cmakeDir ? inspectCmakeDir(cmakeDir, source) : { error: 'not present' };
    tried.push(`${what}: ${r.error ? r.error : `libtorch ${r.version} (${r.libDir})`}`);
    return r.error ? null : r;
  };
  let found = null;
  // An explicit choice that does not work is an error, not a reason to take another libtorch.
  if (env.LIBTORCH) {
    found = attempt(`LIBTORCH=${env.LIBTORCH}`, path.join(path.resolve(env.LIBTORCH), 'share', 'cmake', 'Torch'), 'LIBTORCH');
    return { found, tried, explicit: true };
  }
  if (env.Torch_DIR) {
    found = attempt(`Torch_DIR=${env.Torch_DIR}`, path.resolve(env.Torch_DIR), 'Torch_DIR');
    return { found, tried, explicit: true };
  }
  const venvTorch = venvTorchDir(venv);
  found = attempt(`the package's pip torch (${venv})`, venvTorch && path.join(venvTorch, 'share', 'cmake', 'Torch'), 'package venv');
  if (!found) {
    const userTorch = venvTorchDir(user);
    found = attempt(`torchloop's pip torch for this user (${user})`, userTorch && path.join(userTorch, 'share', 'cmake', 'Torch'), 'user venv');
  }
  if (!found && python && env.TORCHLOOP_NO_PYTHON_TORCH !== '1') {
    // Debian's python3-torch has no cmake files or headers; a pip install has both.
    for (const py of [env.TORCHLOOP_PYTHON, 'python3'].filter(Boolean)) {
      const dir = pythonTorchDir(py);
      found = attempt(`a pip torch imported by ${py}`, dir && path.join(dir, 'share', 'cmake', 'Torch'), `pip torch (${py})`);
      if (found) break;
    }
  }
  for (const dir of env.TORCHLOOP_NO_SYSTEM_TORCH === '1' ? [] : system) {
    if (found) break;
    found = attempt(dir, existsSync(dir) ? dir : null, 'system');
  }
  return { found, tried, explicit: false };
}

// Gloo's headers, which c10d's ProcessGroupGloo.hpp includes (pip wheels ship c10d's headers
// but not Gloo's): $GLOO_INCLUDE, libtorch's own include folders, then the system's (Debian:
// libgloo-dev). Only for a libtorch 2.x whose headers have ProcessGroupGloo; else null, and
// the addon is built without data-parallel training (it says so when asked for it).
export function findGloo(found, env = process.env) {
  if (!found || Number(found.version.split('.')[0]) < 2) return null;
  const c10d = found.include.some((dir) => existsSync(path.join(dir, 'torch', 'csrc', 'distributed', 'c10d', 'ProcessGroupGloo.hpp')));
  if (!c10d) return null;
  for (const dir of [env.GLOO_INCLUDE, ...found.include, '/usr/include', '/usr/local/include'].filter(Boolean)) {
    if (existsSync(path.join(dir, 'gloo', 'algorithm.h'))) return dir;
  }
  return null;
}

export function notFoundMessage(tried) {
  return `torchloop: no usable libtorch was found. Looked at:\n  ${tried.join('\n  ')}\n` +
    `Any one of these provides one (then install torchloop again, or run \`npm rebuild torchloop\`):\n  ${REMEDIES.join('\n  ')}\n`;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { found, tried } = findLibtorch();
  const flag = process.argv[2];
  if (!found) {
    process.stderr.write(notFoundMessage(tried));
    process.exit(1);
  }
  found.gloo = findGloo(found);
  switch (flag) {
    case '--gloo-define': process.stdout.write(found.gloo ? 'TORCHLOOP_GLOO' : 'TORCHLOOP_NO_GLOO'); break;
    case '--gloo-include': process.stdout.write(found.gloo ?? found.include[0]); break;
    case '--cmake-dir': process.stdout.write(found.cmakeDir); break;
    case '--include': process.stdout.write(found.include.join(' ')); break;
    case '--lib-dir': process.stdout.write(found.libDir); break;
    case '--cxx-abi': process.stdout.write(found.cxxAbi); break;
    case '--cxx-std': process.stdout.write(found.cxxStd); break;
    case '--version': process.stdout.write(found.version); break;
    case '--explain': console.log(`${tried.join('\n')}\n-> ${found.source}: libtorch ${found.version} in ${found.root}`); break;
    default: console.log(JSON.stringify(found, null, 2));
  }
}
