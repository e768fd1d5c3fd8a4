// What `npm install torchloop` does when no libtorch is found: it fails with what it searched
// and the commands that provide one. Each command is run here as printed, and then the install
// script finds a libtorch (it runs from a copy of the shipped scripts, in dry-run mode: it
// stops where it would build).
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs module
import { REMEDIES } from '../../scripts/find-libtorch.mjs';

const root = path.resolve(import.meta.dirname, '..', '..');
const pkg = mkdtempSync(path.join(tmpdir(), 'tl-remedies-'));
const home = path.join(pkg, 'home');

// A machine with no libtorch anywhere the finder looks, unless a case adds one.
function bare(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TORCHLOOP_HOME: home, TORCHLOOP_NO_PYTHON_TORCH: '1', TORCHLOOP_NO_SYSTEM_TORCH: '1', TORCHLOOP_INSTALL_DRY_RUN: '1', PIP_RETRIES: '0' };
  for (const k of ['LIBTORCH', 'Torch_DIR', 'TORCHLOOP_ADDON', 'TORCHLOOP_PYTHON', 'TORCHLOOP_PIP_TORCH']) delete env[k];
  return { ...env, ...extra };
}
function install(env: NodeJS.ProcessEnv) {
  const r = spawnSync(process.execPath, [path.join(pkg, 'scripts', 'install.mjs')], { env, encoding: 'utf8', timeout: 600_000 });
  return { status: r.status, out: r.stdout, err: r.stderr, found: r.status === 0 ? JSON.parse(r.stdout.trim().split('\n').pop()!).wouldBuildAgainst : null };
}
function sh(command: string, env: NodeJS.ProcessEnv) {
  const r = spawnSync('sh', ['-c', command], { env, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`${command}: exit ${r.status}\n${r.stderr.slice(-2000)}`);
}
const remedy = (pattern: RegExp): string => {
  const line = (REMEDIES as string[]).find((r) => pattern.test(r));
  expect(line).toBeDefined();
  return line!.split(/:\s{2,}/)[1].split('   ')[0].trim();
};

beforeAll(() => {
  mkdirSync(path.join(pkg, 'scripts'));
  for (const f of ['install.mjs', 'find-libtorch.mjs', 'pip-torch.mjs']) cpSync(path.join(root, 'scripts', f), path.join(pkg, 'scripts', f));
});

describe.runIf((process.env.TORCHLOOP_BUILD ?? 'main') === 'main')('the install script without a libtorch, and each remedy it prints (runs once, in the main project)', () => {
  it('fails, listing every place it looked and every remedy', () => {
    const r = install(bare());
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/no usable libtorch was found/);
    expect(r.err).toMatch(/the package's pip torch .*: not present/);
    expect(r.err).toMatch(/torchloop's pip torch for this user .*: not present/);
    for (const line of REMEDIES as string[]) expect(r.err).toContain(line);
  });

  it('TORCHLOOP_PIP_TORCH=1: torchloop makes its own pip torch and builds against it', () => {
    expect(remedy(/let torchloop make/)).toBe('TORCHLOOP_PIP_TORCH=1 npm install torchloop');
    const r = install(bare({ TORCHLOOP_PIP_TORCH: '1' }));
    expect(r.err + r.out).toMatch(/installing torch==2\.13\.0\+cpu/);
    expect(r.found).toMatchObject({ source: 'user venv', version: '2.13.0' });
    expect(install(bare()).found).toMatchObject({ source: 'user venv' }); // found again without the variable
  }, 600_000);

  it('python3 -m pip install torch==2.13.0+cpu (python3 being a fresh venv\'s)', () => {
    const venv = path.join(pkg, 'venv');
    sh(`python3 -m venv ${venv}`, process.env);
    const env = bare({ PATH: `${venv}/bin:${process.env.PATH}`, TORCHLOOP_HOME: path.join(pkg, 'nobody') });
    delete env.TORCHLOOP_NO_PYTHON_TORCH;
    sh(remedy(/python3 imports/), env);
    expect(install(env).found).toMatchObject({ source: 'pip torch (python3)', version: '2.13.0' });
  }, 600_000);

  it('LIBTORCH=/path/to/libtorch', () => {
    expect(remedy(/LibTorch zip/)).toBe('LIBTORCH=/path/to/libtorch npm install torchloop');
    const libtorch = path.join(root, '.torch', 'lib', 'python3.11', 'site-packages', 'torch');
    expect(install(bare({ LIBTORCH: libtorch, TORCHLOOP_HOME: path.join(pkg, 'nobody') })).found).toMatchObject({ source: 'LIBTORCH', root: libtorch });
  });

  it.runIf(process.getuid?.() === 0)("Debian's libtorch-dev (run as root, without sudo)", () => {
    sh(remedy(/Debian/).replace(/^sudo /, 'DEBIAN_FRONTEND=noninteractive ').replace('install', 'install -y -qq'), process.env);
    const env = bare({ TORCHLOOP_HOME: path.join(pkg, 'nobody') });
    delete env.TORCHLOOP_NO_SYSTEM_TORCH;
    expect(install(env).found).toMatchObject({ source: 'system', version: expect.stringMatching(/^1\.13\./) });
  }, 300_000);
});
