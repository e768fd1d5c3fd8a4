// A libtorch from pip: a virtual environment holding a torch wheel, which carries libtorch
// (lib/, include/, share/cmake/Torch). Used by the checkout's setup (.torch/), by the install
// script when TORCHLOOP_PIP_TORCH=1, and by `torchloop setup-libtorch` (the user-level one).
// Quick when the venv already holds what is asked.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The torch a pip libtorch is made from; TORCHLOOP_TORCH_SPEC picks another. */
export const DEFAULT_TORCH_SPEC = 'torch==2.13.0+cpu';

/** Where `torchloop setup-libtorch` and TORCHLOOP_PIP_TORCH=1 put their venv (the finder looks there). */
export function userVenv(env = process.env) {
  if (env.TORCHLOOP_HOME) return path.join(env.TORCHLOOP_HOME, 'torch');
  const cache = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(cache, 'torchloop', 'torch');
}

/**
 * Makes `venv` hold `packages` (pip specs): creates it with `python` when missing and pip-installs
 * into it. `--retries 0` keeps machines whose only index is a local wheel store from waiting on
 * the network. Extra pip arguments (an index URL, say) come from TORCHLOOP_PIP_ARGS.
 * Returns nothing; throws with pip's exit status on failure.
 */
export function ensurePipTorch(venv, packages, { python = 'python3', log = console.log, env = process.env } = {}) {
  const stamp = path.join(venv, 'torchloop-packages.txt');
  const wanted = packages.join('\n');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return;
  const run = (cmd, args) => {
    log(`$ ${cmd} ${args.join(' ')}`);
    const r = spawnSync(cmd, args, { stdio: 'inherit', env });
    if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status ?? r.signal})`);
  };
  const venvPython = path.join(venv, 'bin', 'python');
  if (!existsSync(venvPython)) {
    mkdirSync(path.dirname(venv), { recursive: true });
    run(python, ['-m', 'venv', venv]);
  }
  const extra = (env.TORCHLOOP_PIP_ARGS ?? '').split(/\s+/).filter(Boolean);
  run(venvPython, ['-m', 'pip', 'install', '--quiet', '--retries', '0', '--disable-pip-version-check', ...extra, ...packages]);
  writeFileSync(stamp, wanted);
}
