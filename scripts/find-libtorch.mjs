#!/usr/bin/env node
// Finds libtorch for both builds (CMakeLists.txt and binding.gyp), so they cannot drift.
// Order: $LIBTORCH (a libtorch folder), $Torch_DIR (a folder with TorchConfig.cmake), a
// Python torch install (python3 on PATH, then /usr/bin/python3), the system's cmake/Torch.
//
//   node scripts/find-libtorch.mjs            -> JSON: { source, cmakeDir, include[], libDir, cxxAbi, version }
//   node scripts/find-libtorch.mjs --cmake-dir | --include | --lib-dir | --cxx-abi | --explain
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const SYSTEM_DIRS = ['/usr/lib/x86_64-linux-gnu/cmake/Torch', '/usr/lib/aarch64-linux-gnu/cmake/Torch', '/usr/lib/cmake/Torch', '/usr/local/share/cmake/Torch'];

function fromCmakeDir(cmakeDir, source) {
  if (!cmakeDir || !existsSync(path.join(cmakeDir, 'TorchConfig.cmake'))) return null;
  // A libtorch or pip layout: <root>/share/cmake/Torch; Debian: <libdir>/cmake/Torch.
  let root = path.resolve(cmakeDir, '..', '..', '..');
  let include = [path.join(root, 'include'), path.join(root, 'include', 'torch', 'csrc', 'api', 'include')];
  let libDir = path.join(root, 'lib');
  if (!existsSync(path.join(root, 'include', 'torch'))) {
    libDir = path.resolve(cmakeDir, '..', '..');
    include = ['/usr/include', '/usr/include/torch/csrc/api/include'];
  }
  const config = readFileSync(path.join(cmakeDir, 'TorchConfig.cmake'), 'utf8');
  const abi = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(config)?.[1] ?? '1';
  let version = 'unknown';
  const versionFile = path.join(cmakeDir, 'TorchConfigVersion.cmake');
  if (existsSync(versionFile)) version = /PACKAGE_VERSION "([^"]+)"/.exec(readFileSync(versionFile, 'utf8'))?.[1] ?? version;
  return { source, cmakeDir, include, libDir, cxxAbi: abi, version };
}

function fromPython(python) {
  try {
    const out = execFileSync(python, ['-c', 'import torch, torch.utils; print(torch.utils.cmake_prefix_path)'], {
      encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60000,
    }).trim();
    return fromCmakeDir(path.join(out, 'Torch'), `python torch (${python})`);
  } catch {
    return null;
  }
}

export function findLibtorch() {
  const tried = [];
  const attempt = (what, fn) => {
    const r = fn();
    tried.push(`${what}: ${r ? 'found' : 'not found'}`);
    return r;
  };
  let found = null;
  if (process.env.LIBTORCH) {
    found = attempt(`LIBTORCH=${process.env.LIBTORCH}`, () => fromCmakeDir(path.join(process.env.LIBTORCH, 'share', 'cmake', 'Torch'), 'LIBTORCH'));
  }
  if (!found && process.env.Torch_DIR) {
    found = attempt(`Torch_DIR=${process.env.Torch_DIR}`, () => fromCmakeDir(process.env.Torch_DIR, 'Torch_DIR'));
  }
  if (!found && process.env.TORCHLOOP_NO_PYTHON_TORCH !== '1') {
    // Debian's python3-torch has no cmake files; a pip install does.
    for (const py of ['python3', '/usr/bin/python3']) {
      found = attempt(`python torch via ${py}`, () => fromPython(py));
      if (found) break;
    }
  }
  if (!found) {
    for (const dir of SYSTEM_DIRS) {
      found = attempt(dir, () => fromCmakeDir(dir, 'system'));
      if (found) break;
    }
  }
  return { found, tried };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const { found, tried } = findLibtorch();
  const flag = process.argv[2];
  if (!found) {
    console.error(`torchloop: libtorch not found. Looked at:\n  ${tried.join('\n  ')}\n` +
      'Install it with: apt-get install libtorch-dev libopenblas0 (Debian), or set LIBTORCH=/path/to/libtorch.');
    process.exit(1);
  }
  switch (flag) {
    case '--cmake-dir': process.stdout.write(found.cmakeDir); break;
    case '--include': process.stdout.write(found.include.join(' ')); break;
    case '--lib-dir': process.stdout.write(found.libDir); break;
    case '--cxx-abi': process.stdout.write(found.cxxAbi); break;
    case '--explain': console.log(`${tried.join('\n')}\n-> ${found.source}: ${found.cmakeDir} (libtorch ${found.version})`); break;
    default: console.log(JSON.stringify(found, null, 2));
  }
}
