import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseManager, RemoteSampleSink, SpringChainEnvironment } from '../../lib/index.ts';
import { natsAvailable, startNats } from '../helpers/nats.ts';

const run = promisify(execFile);
// CI installs nats-server through the setup script; elsewhere the suite says why it skips.
if (!natsAvailable && process.env.CI === 'true') throw new Error('nats-server is missing on CI: scripts/setup.mjs should have installed it');
if (!natsAvailable) console.warn('remote environments: nats-server is not installed (apt-get install nats-server); skipping');

describe.skipIf(!natsAvailable)('remote environments over NATS JetStream (server and clients on loopback)', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(() => nats?.stop());

  it('two client processes stream batches; the sink commits each batch exactly once', async () => {
    const env = new SpringChainEnvironment({ nodes: 8 });
    await env.create();
    using db = DatabaseManager.open(path.join(mkdtempSync(path.join(tmpdir(), 'tl-remote-')), 'remote.sqlite'), { fields: env.fields });
    const clients = [run(process.execPath, ['--import', 'tsx', 'test/helpers/remote-client.ts', nats.url, 'alpha', '1', '3']), run(process.execPath, ['--import', 'tsx', 'test/helpers/remote-client.ts', nats.url, 'beta', '2', '3'])];
    const sink = new RemoteSampleSink({ servers: nats.url, dataset: 'chain_test', database: db });
    const [received] = await Promise.all([sink.receive({ samples: 96, timeoutMs: 45_000 }), ...clients]);
    expect(received).toBe(96);
    expect(db.count('training')).toBe(96);
    const keys = db.query<{ key: string }>('SELECT key FROM received_batches ORDER BY key').map((r) => r.key);
    expect(keys).toEqual(['alpha/0', 'alpha/1', 'alpha/2', 'beta/0', 'beta/1', 'beta/2']);
    // Different seeds, different samples.
    const loads = db.read(db.ids('training')).loads as Float32Array;
    expect(new Set(Array.from(loads.subarray(0, 8 * 96)).map((v) => v.toFixed(6))).size).toBeGreaterThan(700);

    // A client that runs again with the same id republishes the same keys: nothing is stored twice.
    await run(process.execPath, ['--import', 'tsx', 'test/helpers/remote-client.ts', nats.url, 'alpha', '1', '2']);
    const again = await sink.receive({ samples: 1, timeoutMs: 3000 });
    expect(again).toBe(0);
    expect(db.count('training')).toBe(96);
  }, 90_000);

  it('an unreachable server is a clear error', async () => {
    const env = new SpringChainEnvironment({ nodes: 8 });
    await env.create();
    using db = DatabaseManager.open(path.join(mkdtempSync(path.join(tmpdir(), 'tl-remote-')), 'x.sqlite'), { fields: env.fields });
    await expect(new RemoteSampleSink({ servers: '127.0.0.1:1', dataset: 'x', database: db }).receive({ samples: 1, timeoutMs: 1000 })).rejects.toMatchObject({
      code: 'ERR_RUNTIME',
      message: expect.stringMatching(/Cannot reach the NATS server at 127.0.0.1:1/),
    });
  });
});
