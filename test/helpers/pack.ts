// `npm pack` once per vitest run, shared by the test projects (its prepack rebuilds dist/, so
// two at once would race): the first fork to create the folder packs, the others wait for it.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..', '..');

export async function packOnce(): Promise<string> {
  const dir = path.join(tmpdir(), `torchloop-pack-${process.ppid}`);
  const done = path.join(dir, 'done');
  let packer = true;
  try {
    mkdirSync(dir);
  } catch {
    packer = false;
  }
  if (packer) {
    try {
      execFileSync('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    } finally {
      writeFileSync(done, '');
    }
  }
  for (let waited = 0; !existsSync(done); waited += 500) {
    if (waited > 600_000) throw new Error(`npm pack did not finish in ${dir}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack failed (nothing in ${dir})`);
  return path.join(dir, tarball);
}
