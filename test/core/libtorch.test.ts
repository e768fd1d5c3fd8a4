// Which libtorch: the finder (every source it names), the build (it links and rpaths the
// libtorch it compiled against), and the loader (a missing or mismatched libtorch is an
// ERR_NATIVE_LOAD at import, never a dead process).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { version } from '../../lib/index.ts';
// @ts-expect-error: a plain .mjs script without types
import { findLibtorch, venvTorchDir, REMEDIES, SYSTEM_DIRS } from '../../scripts/find-libtorch.mjs';

const root = path.resolve(import.meta.dirname, '..', '..');
const finder = path.join(root, 'scripts', 'find-libtorch.mjs');
const pipTorch: string = venvTorchDir();
const debian: string = SYSTEM_DIRS[0];
const none = { venv: '/nonexistent', python: false };

describe('the finder', () => {
  it('LIBTORCH: a libtorch folder (a pip install has the LibTorch zip layout)', () => {
    const { found } = findLibtorch({ LIBTORCH: pipTorch });
    expect(found).toMatchObject({ source: 'LIBTORCH', version: expect.stringMatching(/^2\./), libDir: path.join(pipTorch, 'lib') });
  });

  it("Torch_DIR: Debian's cmake folder, with its headers in /usr/include", () => {
    const { found } = findLibtorch({ Torch_DIR: debian });
    expect(found).toMatchObject({ source: 'Torch_DIR', version: expect.stringMatching(/^1\.13\./), libDir: path.dirname(path.dirname(debian)) });
    expect(found.include[0]).toBe('/usr/include');
  });

  it("the package's own venv (.torch/), before python3's and the system's", () => {
    expect(findLibtorch({}).found).toMatchObject({ source: 'package venv', root: pipTorch });
  });

  it('a pip torch that python3 imports (found without importing torch)', () => {
    const python = path.join(root, '.torch', 'bin', 'python');
    const { found } = findLibtorch({ TORCHLOOP_PYTHON: python }, { venv: '/nonexistent' });
    expect(found).toMatchObject({ source: `pip torch (${python})`, root: pipTorch });
  });

  it("the system's libtorch when nothing else is there", () => {
    expect(findLibtorch({}, none).found).toMatchObject({ source: 'system', cmakeDir: debian });
  });

  it('an explicit LIBTORCH that is wrong is an error listing what was tried and every remedy, not a fall-back', () => {
    expect(findLibtorch({ LIBTORCH: '/nonexistent/libtorch' }).found).toBeNull();
    const r = spawnSync(process.execPath, [finder], { env: { ...process.env, LIBTORCH: '/nonexistent/libtorch' }, encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/LIBTORCH=\/nonexistent\/libtorch: no TorchConfig\.cmake/);
    for (const line of REMEDIES as string[]) expect(r.stderr).toContain(line);
    expect(r.stderr).toMatch(/TORCHLOOP_PIP_TORCH=1 npm install torchloop/);
  });

  it("a folder that mixes one version's headers with another's cmake files is refused", () => {
    const mixed = mkdtempSync(path.join(tmpdir(), 'tl-mixed-'));
    symlinkSync(path.join(pipTorch, 'include'), path.join(mixed, 'include'));
    symlinkSync(path.join(pipTorch, 'lib'), path.join(mixed, 'lib'));
    mkdirSync(path.join(mixed, 'share', 'cmake'), { recursive: true });
    symlinkSync(debian, path.join(mixed, 'share', 'cmake', 'Torch'));
    const { found, tried } = findLibtorch({ LIBTORCH: mixed });
    expect(found).toBeNull();
    expect(tried.join('\n')).toMatch(/headers say 2\.\d+\.\d+ but TorchConfigVersion\.cmake says 1\.13/);
  });
});

describe(`the build in use (libtorch ${version.libtorch})`, () => {
  it('links the libtorch it compiled against and points its rpath there', () => {
    const dynamic = execFileSync('readelf', ['-d', version.addon], { encoding: 'utf8' });
    const rpath = /\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[([^\]]+)\]/.exec(dynamic)?.[1];
    expect(rpath).toBeDefined();
    expect(path.dirname(version.libtorchPath)).toBe(rpath);
    const built = /torchloop-built-against: libtorch (\S+) in ([^\0]+)/.exec(readFileSync(version.addon, 'latin1'))!;
    expect(built[2]).toBe(rpath);
    expect(version.libtorch.split('.').slice(0, 2)).toEqual(built[1].split('.').slice(0, 2));
    expect(version.libtorch.startsWith(process.env.TORCHLOOP_BUILD === '1.13' ? '1.13.' : '2.')).toBe(true);
  });

  it('reports its BLAS and CPU kernels', () => {
    expect(version.blas).toMatch(/^(OpenBLAS [\d.]+ \(\w+ kernels\)|MKL [\d.]+)$/);
    expect(version.cpuCapability).toMatch(/^(AVX512|AVX2|DEFAULT)$/);
  });
});

// Copies the addon under test with one string of its dynamic section changed, as if its
// libtorch had moved or been replaced, and imports torchloop with it in a child process.
function importWithDamagedCopy(damage: (bytes: Buffer) => Buffer) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tl-addon-'));
  const copy = path.join(dir, 'torchloop.node');
  writeFileSync(copy, damage(readFileSync(version.addon)));
  const script = `try { await import(${JSON.stringify(path.join(root, 'lib', 'index.ts'))}); console.log('LOADED') }
    catch (e) { console.log(JSON.stringify({ code: e.code, name: e.name, message: e.message })) }`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root, env: { ...process.env, TORCHLOOP_ADDON: copy }, encoding: 'utf8', timeout: 60_000,
  });
  return { status: r.status, out: r.stdout.trim(), err: r.stderr };
}

function replaceFirst(bytes: Buffer, from: string, to: string): Buffer {
  expect(to.length).toBe(from.length);
  const at = bytes.indexOf(from);
  expect(at).toBeGreaterThan(0);
  const out = Buffer.from(bytes);
  out.write(to, at, 'latin1');
  return out;
}

describe('loading the addon', () => {
  it('an addon whose libtorch is gone: ERR_NATIVE_LOAD at import, naming what it was built against; the process lives', () => {
    const soname = /lib(c10\.so(?:\.[\d.]+)?)\0/.exec(readFileSync(version.addon, 'latin1'))![0].slice(0, -1);
    const r = importWithDamagedCopy((b) => replaceFirst(b, `${soname}\0`, `${soname.replace('c10', 'c1X')}\0`));
    expect(r.status).toBe(0);
    const e = JSON.parse(r.out);
    expect(e).toMatchObject({ code: 'ERR_NATIVE_LOAD', name: 'TorchError' });
    expect(e.message).toMatch(/libc1X\.so[.\d]*: cannot open shared object file/);
    expect(e.message).toMatch(new RegExp(`built against libtorch ${version.libtorch.split('.').slice(0, 2).join('\\.')}`));
    expect(e.message).toMatch(/libtorch finder:\n {2}/);
    expect(e.message).toMatch(/npm run build:native|npm run setup/);
  });

  it.runIf(version.libtorch.startsWith('2.'))(
    "a 2.x addon whose rpath no longer leads to its libtorch picks up Debian's 1.13 instead: ERR_NATIVE_LOAD at import (RTLD_NOW), not a symbol lookup error on the first call",
    () => {
      const libDir = path.dirname(version.libtorchPath);
      const r = importWithDamagedCopy((b) => replaceFirst(b, `${libDir}\0`, `${'/nonexistent'.padEnd(libDir.length, 'x')}\0`));
      expect(r.status).toBe(0);
      const e = JSON.parse(r.out);
      expect(e.code).toBe('ERR_NATIVE_LOAD');
      expect(e.message).toMatch(/undefined symbol|compiled against libtorch/);
      expect(e.message).toMatch(/do not match.*Rebuild it/s);
    },
  );

  it('TORCHLOOP_ADDON naming a missing file is an ERR_NATIVE_LOAD too', () => {
    const script = `try { await import(${JSON.stringify(path.join(root, 'lib', 'index.ts'))}) } catch (e) { console.log(e.code, e.message.split('\\n')[0]) }`;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: root, env: { ...process.env, TORCHLOOP_ADDON: '/nonexistent/torchloop.node' }, encoding: 'utf8',
    });
    expect(out).toMatch(/^ERR_NATIVE_LOAD .*TORCHLOOP_ADDON=\/nonexistent\/torchloop\.node does not exist/);
  });
});
