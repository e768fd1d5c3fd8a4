import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { version } from '../runtime.ts';

/**
 * What a run folder says about the run (MI-Prometheus and DeepPhysX keep the same): versions,
 * the machine, the seed, and the git commit of the user's project when it is in a repository.
 * Written as info.json and info.txt beside the resolved config.
 */
export function writeRunInfo(out: string, baseDir: string, seed: number, name: string): Record<string, unknown> {
  let git: { commit: string; dirty: boolean } | null = null;
  try {
    const opts = { cwd: baseDir, encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ['ignore', 'pipe', 'ignore'] };
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], opts).trim();
    git = { commit, dirty: execFileSync('git', ['status', '--porcelain'], opts).trim().length > 0 };
  } catch {
    git = null; // not a repository, or no git
  }
  const info = {
    name,
    started: new Date().toISOString(),
    seed,
    versions: { torchloop: version.torchloop, libtorch: version.libtorch, libtorchPath: version.libtorchPath, node: process.version, blas: version.blas },
    machine: { hostname: os.hostname(), platform: `${os.platform()} ${os.release()}`, cpu: os.cpus()[0]?.model ?? '?', cpus: os.cpus().length, memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1) },
    git,
  };
  writeFileSync(path.join(out, 'info.json'), JSON.stringify(info, null, 2) + '\n');
  writeFileSync(path.join(out, 'info.txt'), [
    `run        ${name}, started ${info.started}, seed ${seed}`,
    `torchloop  ${info.versions.torchloop}, libtorch ${info.versions.libtorch} (${info.versions.libtorchPath}), Node ${info.versions.node}, BLAS ${info.versions.blas}`,
    `machine    ${info.machine.hostname}: ${info.machine.platform}, ${info.machine.cpu} x${info.machine.cpus}, ${info.machine.memoryGiB} GiB`,
    `project    ${git ? `git ${git.commit}${git.dirty ? ' (with uncommitted changes)' : ''}` : 'not in a git repository'}`,
  ].join('\n') + '\n');
  return info;
}

export interface NotifyOptions {
  /** A shell command run when the run ends; TORCHLOOP_RUN_STATUS, _OUTPUT and _JSON are in its environment. */
  command?: string | null;
  /** A URL that gets the same JSON by POST (a webhook, e.g. on loopback). */
  url?: string | null;
}

/**
 * Tells the user a run ended ('finished') or failed, as dida's notifier does by mail: a
 * command, a webhook, or both. A notification that fails is reported on stderr; the run's
 * result stands.
 */
export async function notifyRun(notify: NotifyOptions | null | undefined, message: { name: string; status: 'finished' | 'failed'; output: string; epochs?: number; error?: string }): Promise<void> {
  if (!notify) return;
  const json = JSON.stringify(message);
  const jobs: Promise<void>[] = [];
  if (notify.command) {
    jobs.push(new Promise<void>((resolve) => {
      execFile('/bin/sh', ['-c', notify.command!], { env: { ...process.env, TORCHLOOP_RUN_STATUS: message.status, TORCHLOOP_RUN_OUTPUT: message.output, TORCHLOOP_RUN_JSON: json }, timeout: 30_000 }, (err) => {
        if (err) process.stderr.write(`notify: the command failed: ${err.message.split('\n')[0]}\n`);
        resolve();
      });
    }));
  }
  if (notify.url) {
    jobs.push(fetch(notify.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json, signal: AbortSignal.timeout(10_000) })
      .then((r) => { if (!r.ok) process.stderr.write(`notify: ${notify.url} answered ${r.status}\n`); })
      .catch((e: Error) => { process.stderr.write(`notify: ${notify.url}: ${e.message}\n`); }));
  }
  await Promise.all(jobs);
}
