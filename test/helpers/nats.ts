import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** Whether Debian's nats-server is installed (scripts/setup.mjs installs it as root). */
export const natsAvailable = spawnSync('nats-server', ['--version']).status === 0;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts nats-server with JetStream on a free loopback port, storing in a temp dir. */
export async function startNats(): Promise<{ url: string; stop: () => void; process: ChildProcess }> {
  const port = await freePort();
  const store = mkdtempSync(path.join(tmpdir(), 'tl-nats-'));
  const proc = spawn('nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server did not start: ${log}`)), 30_000);
    proc.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server is ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
  });
  return { url: `127.0.0.1:${port}`, process: proc, stop: () => proc.kill('SIGTERM') };
}
