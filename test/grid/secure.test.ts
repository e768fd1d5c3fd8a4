// Multi-machine work on a shared network: a real nats-server (Debian's) on loopback with the
// README's least-privilege configuration (docs/nats/torchloop.conf): TLS only with a CA made
// here by openssl, one account, a user per role. Each auth method, each permission, each refusal;
// 1,000 malformed run messages against a worker; no secret in any file a run writes.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readdirSync, readFileSync, statSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createUser } from '@nats-io/nkeys';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DatabaseManager, RemoteEnvironmentClient, RemoteSampleSink, SpringChainEnvironment } from '../../lib/index.ts';
import { runGrid } from '../../lib/grid/grid.ts';
import { serveNats } from '../../lib/grid/nats.ts';
import { connectNats, type NatsOptions } from '../../lib/nats-connect.ts';
import { natsAvailable } from '../helpers/nats.ts';
import { makeCerts, operatorAuth, startNatsConfig, type Certs } from '../helpers/secure-nats.ts';

const run = promisify(execFile);
const SECRETS = { coordinator: 'coord-Pw-7f3a9c', trainer: 'train-Pw-51be02', sim: 'sim-Pw-c08d44', token: 'tok-3e1f-secret' };
const CHAIN = path.resolve('lib/data/examples/spring-chain.ts');

/** Every file under a folder, and whether any holds one of the strings. */
function filesHolding(dir: string, needles: string[]): string[] {
  const hits: string[] = [];
  const visit = (p: string) => {
    for (const e of readdirSync(p)) {
      const f = path.join(p, e);
      if (statSync(f).isDirectory()) visit(f);
      else {
        const text = readFileSync(f).toString('latin1');
        if (needles.some((n) => text.includes(n))) hits.push(f);
      }
    }
  };
  visit(dir);
  return hits;
}

/** A sink's receive, once its stream and consumer exist: a client that may only publish can go. */
async function receiving(sink: RemoteSampleSink, samples: number): Promise<{ done: Promise<number> }> {
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const done = sink.receive({ samples, timeoutMs: 60_000, onReady: ready });
  await Promise.race([isReady, done]);
  return { done };
}

describe.skipIf(!natsAvailable || process.env.TORCHLOOP_BUILD !== 'main')('NATS with authentication, permissions and TLS (the README configuration)', () => {
  let dir: string, certs: Certs, server: Awaited<ReturnType<typeof startNatsConfig>>, workerSeed: string, workerSeedText: string;
  let as: Record<'coordinator' | 'worker' | 'trainer' | 'sim', NatsOptions>;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tl-secure-'));
    certs = makeCerts(dir);
    const worker = createUser();
    workerSeedText = new TextDecoder().decode(worker.getSeed());
    workerSeed = path.join(dir, 'worker.nk');
    writeFileSync(workerSeed, `${workerSeedText}\n`, { mode: 0o600 });
    const config = readFileSync('docs/nats/torchloop.conf', 'utf8')
      .replace('port: 4222', 'port: $PORT')
      .replace('"/var/lib/nats/jetstream"', '"$STORE"')
      .replace('"/etc/nats/server.pem"', JSON.stringify(certs.serverCert))
      .replace('"/etc/nats/server.key"', JSON.stringify(certs.serverKey))
      .replace('"/etc/nats/ca.pem"', JSON.stringify(certs.ca));
    server = await startNatsConfig(config, { TL_COORDINATOR_PASSWORD: SECRETS.coordinator, TL_TRAINER_PASSWORD: SECRETS.trainer, TL_SIM_PASSWORD: SECRETS.sim, TL_WORKER_NKEY: worker.getPublicKey() });
    const tls = { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey };
    as = {
      coordinator: { servers: server.url, user: 'coordinator', password: SECRETS.coordinator, tls, inbox: '_INBOX_coordinator' },
      worker: { servers: server.url, nkey: workerSeed, tls, inbox: '_INBOX_worker' },
      trainer: { servers: server.url, user: 'trainer', password: SECRETS.trainer, tls, inbox: '_INBOX_trainer' },
      sim: { servers: server.url, user: 'sim', password: SECRETS.sim, tls, inbox: '_INBOX_sim' },
    };
  }, 60_000);
  afterAll(() => server?.stop());

  it('refuses no credentials, a plain connection, a wrong password and a certificate of another CA: one ERR_AUTH each, naming the method, never the secret', async () => {
    const tls = as.trainer.tls!;
    await expect(connectNats({ servers: server.url, tls }, 't')).rejects.toMatchObject({ code: 'ERR_AUTH', message: expect.stringMatching(/the NATS server at 127\.0\.0\.1:\d+ refused no credentials, TLS \(CA .*ca\.pem\)/) });
    await expect(connectNats({ servers: server.url, user: 'trainer', password: SECRETS.trainer }, 't')).rejects.toMatchObject({ code: 'ERR_AUTH', message: expect.stringMatching(/TLS/) });
    const before = (server.log().match(/authentication error/g) ?? []).length;
    const wrong = await connectNats({ ...as.trainer, password: 'not-the-Pw-123' }, 't').catch((e) => e);
    expect(wrong).toMatchObject({ code: 'ERR_AUTH', message: expect.stringMatching(/refused user 'trainer' and password, TLS/) });
    expect(wrong.message).not.toContain('not-the-Pw-123');
    // One attempt, not a retry storm: the server logs the refusal; no second one follows it.
    await server.waitForLog(/authentication error/g, before + 1);
    await new Promise((r) => setTimeout(r, 300));
    expect((server.log().match(/authentication error/g) ?? []).length - before).toBe(1);
    await expect(connectNats({ ...as.trainer, tls: { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey } }, 't')).rejects.toMatchObject({ code: 'ERR_AUTH' });
  });

  it('a grid end to end: the coordinator (user and password) queues it, a worker (NKey) runs it; the worker may not publish a run', async () => {
    const gdir = path.join(dir, 'grid');
    mkdirSync(gdir);
    writeFileSync(path.join(gdir, 'exp.yaml'), `database: { file: data.sqlite }\nenvironment: { module: torchloop:spring-chain, options: { nodes: 4, iterations: 10 } }\nnetwork: { mlp: { sizes: [4, 16, 4] } }\ntraining: { epochs: 2, batchSize: 16, batchesPerEpoch: 4 }\nvalidation: { samples: 32 }\nstats: { histogramsEvery: 0, plots: false }\n`);
    // The coordinator's password sits in the grid file: it must not reach a worker or a file.
    writeFileSync(path.join(gdir, 'grid.yaml'), `name: lr-sweep\nbase: exp.yaml\noutput: out\nproduct:\n  optimizer.lr: [1.0e-3, 3.0e-3]\nnats:\n  servers: ${server.url}\n  user: coordinator\n  password: ${SECRETS.coordinator}\n  tls: { ca: ${certs.ca}, cert: ${certs.clientCert}, key: ${certs.clientKey} }\n  inbox: _INBOX_coordinator\n`);
    const lines: string[] = [];
    const [report, runs] = await Promise.all([
      runGrid(path.join(gdir, 'grid.yaml'), { nats: true, ackWaitMs: 30_000 }),
      serveNats({ nats: as.worker, grid: 'lr-sweep', baseDir: gdir, waitMs: 30_000, log: (l) => lines.push(l) }),
    ]);
    expect(runs).toBe(2);
    expect(report.runs.map((r) => r.result.status)).toEqual(['done', 'done']);
    expect(filesHolding(gdir + '/out', [SECRETS.coordinator])).toEqual([]);

    const nc = await connectNats(as.worker, 'worker');
    try {
      await expect(jetstream(nc).publish('torchloop.grid.lr-sweep.runs', '{}')).rejects.toThrow(/permission/i);
      await expect((await jetstreamManager(nc)).streams.delete('TORCHLOOP_GRID_lr-sweep')).rejects.toThrow(/permission/i);
    } finally {
      await nc.close();
    }
  }, 180_000);

  it('remote environments: a sim client publishes, the trainer stores; the sim may not consume, the trainer may not read another stream', async () => {
    const env = new SpringChainEnvironment({ nodes: 4 });
    await env.create();
    using db = DatabaseManager.open(path.join(dir, 'remote.sqlite'), { fields: env.fields });
    const sink = new RemoteSampleSink({ ...as.trainer, dataset: 'beam-surrogate', database: db });
    const client = new RemoteEnvironmentClient({ ...as.sim, dataset: 'beam-surrogate', clientId: 'sim-1', environment: { module: CHAIN, exportName: 'SpringChainEnvironment' }, environmentOptions: { nodes: 4, iterations: 5 }, batchSize: 8, seed: 1 });
    // The sink makes the stream (the sim may not); then the client publishes.
    const received = await receiving(sink, 24);
    await client.run(3);
    expect(await received.done).toBe(24);
    const nc = await connectNats(as.sim, 'sim');
    try {
      await expect(jetstreamManager(nc).then((jsm) => jsm.consumers.add('TORCHLOOP_beam-surrogate', { durable_name: 'thief' }))).rejects.toThrow(/permission/i);
      await expect(jetstreamManager(nc, { checkAPI: false }).then((jsm) => jsm.consumers.add('TORCHLOOP_beam-surrogate', { durable_name: 'thief' }))).rejects.toThrow(/permission/i);
      await expect(jetstream(nc).publish('torchloop.grid.lr-sweep.runs', '{}')).rejects.toThrow(/permission/i);
      // Nor read what the server delivers to the trainer (its own inbox prefix).
      const spy = nc.subscribe('_INBOX_trainer.>');
      expect(String(await spy.closed)).toMatch(/permissions violation for subscription to "_INBOX_trainer\.>"/i);
    } finally {
      await nc.close();
    }
    await expect(new RemoteSampleSink({ ...as.trainer, dataset: 'someone-else', database: db }).receive({ samples: 1, timeoutMs: 3000 })).rejects.toMatchObject({ code: 'ERR_AUTH', message: expect.stringMatching(/may not .*TORCHLOOP_someone-else/) });
  }, 120_000);

  it('a Python client (python -m torchloop_env) with user, password and TLS feeds the trainer; a wrong password is one clear error', async () => {
    const env = new SpringChainEnvironment({ nodes: 4 });
    await env.create();
    using db = DatabaseManager.open(path.join(dir, 'py.sqlite'), { fields: [{ name: 'x', shape: [3] }, { name: 'y', shape: [2] }] });
    const sink = new RemoteSampleSink({ ...as.trainer, dataset: 'beam-surrogate', consumer: 'py', database: db });
    const received = await receiving(sink, 8);
    const py = path.resolve('.torch/bin/python');
    const args = ['-m', 'torchloop_env', '--servers', server.url, '--dataset', 'beam-surrogate', '--client-id', 'py-1', '--env', 'tiny_env:Tiny', '--batch-size', '4', '--batches', '2', '--tls-ca', certs.ca, '--tls-cert', certs.clientCert, '--tls-key', certs.clientKey, '--user', 'sim', '--inbox', '_INBOX_sim'];
    const opts = { encoding: 'utf8' as const, env: { ...process.env, PYTHONPATH: path.resolve('test/helpers'), NATS_PASSWORD: SECRETS.sim } };
    const ok = await run(py, args, opts);
    expect(JSON.parse(ok.stdout.trim().split('\n').at(-1)!)).toEqual({ published: 2, samples: 8 });
    expect(await received.done).toBe(8);
    const bad = await run(py, args, { ...opts, env: { ...opts.env, NATS_PASSWORD: 'not-it-9b2' } }).then(() => null, (e) => e as { code: number; stderr: string });
    expect(bad?.code).toBe(1);
    expect(bad?.stderr).toMatch(/torchloop-env: the NATS server at (nats:\/\/)?127\.0\.0\.1:\d+ refused user 'sim' and password/);
    expect(bad?.stderr).not.toContain('not-it-9b2');
  }, 120_000);

  it('1,000 malformed run messages: the worker refuses each with a reason, and runs the real one', async () => {
    const gdir = path.join(dir, 'fuzz');
    mkdirSync(gdir);
    writeFileSync(path.join(gdir, 'exp.yaml'), `database: { file: data.sqlite }\nenvironment: { options: { nodes: 4, iterations: 10 } }\nnetwork: { mlp: { sizes: [4, 8, 4] } }\ntraining: { epochs: 1, batchSize: 16, batchesPerEpoch: 2 }\nvalidation: { samples: 16 }\nstats: { histogramsEvery: 0, plots: false, tensorboard: false }\n`);
    writeFileSync(path.join(gdir, 'grid.yaml'), `name: lr-sweep\nbase: exp.yaml\noutput: out\n`);
    mkdirSync(path.join(dir, 'outside'), { recursive: true });
    symlinkSync(path.join(dir, 'outside'), path.join(gdir, 'escape'));
    writeFileSync(path.join(gdir, 'evil.mjs'), 'export class Evil {}\n');
    const good = { version: 1, grid: 'lr-sweep', id: '000_base', index: 0, params: {}, seed: 0, point: 'base', document: { database: { file: 'data.sqlite' } }, baseDir: gdir, folder: 'runs/000_base', gridOutput: path.join(gdir, 'out'), attempt: 1 };
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const cases: (string | Uint8Array)[] = [];
    const mutations: ((j: Record<string, unknown>) => unknown)[] = [
      (j) => ({ ...j, version: 2 }),
      (j) => ({ ...j, grid: 'other-grid' }),
      (j) => ({ ...j, document: { database: { file: '/etc/passwd' } } }),
      (j) => ({ ...j, document: { database: { file: '../../../../../../tmp/x.sqlite' } } }),
      (j) => ({ ...j, document: { database: { file: 'escape/x.sqlite' } } }),
      (j) => ({ ...j, document: { environment: { module: './evil.mjs', export: 'Evil' } } }),
      (j) => ({ ...j, document: { environment: { module: 'torchloop:nothing' } } }),
      (j) => ({ ...j, document: { network: { file: '/etc/hostname' } } }),
      (j) => ({ ...j, document: { notify: { command: 'touch /tmp/pwned' } } }),
      (j) => ({ ...j, document: { checkpoint: { dir: '../../x' } } }),
      (j) => ({ ...j, document: { trainig: {} } }),
      (j) => ({ ...j, folder: '../../etc' }),
      (j) => ({ ...j, folder: '/abs' }),
      (j) => ({ ...j, document: 'x' }),
      (j) => ({ ...j, params: null }),
      (j) => ({ ...j, seed: 'x' }),
      (j) => ({ ...j, index: -1 }),
      (j) => ({ ...j, index: 'x' }),
      () => [1, 2, 3],
      () => null,
      () => 'a string',
    ];
    for (let i = 0; i < 1000; i++) {
      const k = i % 25;
      if (k < mutations.length) {
        const m = mutations[k]({ ...good, index: 1000 + i, id: `f${i}` }) as Record<string, unknown> | null;
        cases.push(JSON.stringify(m));
      } else if (k === 21) cases.push(new Uint8Array(Array.from({ length: 1 + Math.floor(rand() * 300) }, () => Math.floor(rand() * 256))));
      else if (k === 22) cases.push(JSON.stringify(good).slice(0, Math.floor(rand() * 150)));
      else if (k === 23) cases.push(i % 100 === 23 ? JSON.stringify({ ...good, index: 1000 + i, pad: 'x'.repeat(300_000) }) : '\xff\xfe{');
      else cases.push(JSON.stringify({ ...good, index: 1000 + i, document: { training: { epochs: -1 } } }));
    }
    const lines: string[] = [];
    const coordinator = runGrid(path.join(gdir, 'grid.yaml'), { nats: server.url, natsFlags: { user: 'coordinator', password: SECRETS.coordinator, tls: as.coordinator.tls, inbox: '_INBOX_coordinator' }, ackWaitMs: 30_000 });
    // The queue exists once the coordinator has made it: then the malformed messages go in.
    const nc = await connectNats(as.coordinator, 'fuzzer');
    try {
      const jsm = await jetstreamManager(nc);
      for (let t = 0; ; t++) {
        // The coordinator's own stream with its run in it (an earlier test's stream is empty).
        if (await jsm.streams.info('TORCHLOOP_GRID_lr-sweep').then((i) => i.state.messages >= 1, () => false)) break;
        if (t > 200) throw new Error('the grid was never queued');
        await new Promise((r) => setTimeout(r, 50));
      }
      const js = jetstream(nc);
      for (const [i, c] of cases.entries()) await js.publish('torchloop.grid.lr-sweep.runs', c, { msgID: `fuzz-${i}` });
    } finally {
      await nc.close();
    }
    const [report, runs] = await Promise.all([coordinator, serveNats({ nats: as.worker, grid: 'lr-sweep', baseDir: gdir, waitMs: 30_000, log: (l) => lines.push(l) })]);
    expect(runs).toBe(1);
    expect(report.runs.map((r) => r.result.status)).toEqual(['done']);
    const refusals = lines.filter((l) => l.includes('refused a run message'));
    expect(refusals).toHaveLength(1000);
    for (const r of refusals) expect(r).toMatch(/refused a run message( \(run \d+\))?: \S.{8,}/);
    const why = (pattern: RegExp) => refusals.filter((r) => pattern.test(r)).length;
    expect(why(/is not JSON/)).toBeGreaterThan(0);
    expect(why(/over the 262144 a worker reads/)).toBeGreaterThan(0);
    expect(why(/version is 2/)).toBe(40);
    expect(why(/this worker serves 'lr-sweep'/)).toBe(40);
    expect(why(/'\/etc\/passwd' is an absolute path/)).toBe(40);
    expect(why(/climbs out of the worker's base folder/)).toBe(40);
    expect(why(/through a symlink/)).toBe(40);
    expect(why(/not on this worker's --allow-module list/)).toBe(40);
    expect(why(/asks for notify/)).toBe(40);
    expect(why(/checkpoint.dir/)).toBe(40);
    expect(why(/not a plain relative name/)).toBe(80);
    expect(readdirSync(path.join(dir, 'outside'))).toEqual([]);
  }, 240_000);
});

describe.skipIf(!natsAvailable || process.env.TORCHLOOP_BUILD !== 'main')('NATS token auth and decentralised auth (.creds)', () => {
  it('a token on a plain server: the right one works for a sink, a wrong one is ERR_AUTH without its value', async () => {
    const server = await startNatsConfig(`port: $PORT\nhost: 127.0.0.1\njetstream { store_dir: "$STORE" }\nauthorization { token: $TL_TOKEN }\n`, { TL_TOKEN: SECRETS.token });
    try {
      const env = new SpringChainEnvironment({ nodes: 4 });
      await env.create();
      using db = DatabaseManager.open(path.join(mkdtempSync(path.join(tmpdir(), 'tl-tok-')), 'x.sqlite'), { fields: env.fields });
      expect(await new RemoteSampleSink({ servers: server.url, token: SECRETS.token, dataset: 'tok', database: db }).receive({ samples: 1, timeoutMs: 1000 })).toBe(0);
      const e = await new RemoteSampleSink({ servers: server.url, token: 'wrong-token-abc', dataset: 'tok', database: db }).receive({ samples: 1, timeoutMs: 1000 }).catch((x) => x);
      expect(e).toMatchObject({ code: 'ERR_AUTH', message: expect.stringMatching(/refused a token/) });
      expect(e.message).not.toContain('wrong-token-abc');
    } finally {
      server.stop();
    }
  });

  it('a Python client with an NKey (signed with PyNaCl when nkeys is absent) feeds a sink; another key and a broken seed are one clear error each', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-pynk-'));
    const sim = createUser(), stranger = createUser();
    const seedFile = (name: string, text: string) => (writeFileSync(path.join(dir, name), `${text}\n`, { mode: 0o600 }), path.join(dir, name));
    const simSeed = seedFile('sim.nk', new TextDecoder().decode(sim.getSeed()));
    const strangerSeed = seedFile('stranger.nk', new TextDecoder().decode(stranger.getSeed()));
    const broken = seedFile('broken.nk', new TextDecoder().decode(sim.getSeed()).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')));
    const server = await startNatsConfig(`port: $PORT\nhost: 127.0.0.1\njetstream { store_dir: "$STORE" }\nauthorization { users: [ { nkey: $TL_SIM_NKEY } ] }\n`, { TL_SIM_NKEY: sim.getPublicKey() });
    try {
      using db = DatabaseManager.open(path.join(dir, 'nk.sqlite'), { fields: [{ name: 'x', shape: [3] }, { name: 'y', shape: [2] }] });
      const received = await receiving(new RemoteSampleSink({ servers: server.url, nkey: simSeed, dataset: 'py-nkey', database: db }), 8);
      const args = (seed: string) => ['-m', 'torchloop_env', '--servers', server.url, '--dataset', 'py-nkey', '--client-id', 'py-nk', '--env', 'tiny_env:Tiny', '--batch-size', '4', '--batches', '2', '--nkey', seed];
      const opts = { encoding: 'utf8' as const, env: { ...process.env, PYTHONPATH: path.resolve('test/helpers') } };
      const ok = await run(path.resolve('.torch/bin/python'), args(simSeed), opts);
      expect(JSON.parse(ok.stdout.trim().split('\n').at(-1)!)).toEqual({ published: 2, samples: 8 });
      expect(await received.done).toBe(8);
      const fail = (seed: string) => run(path.resolve('.torch/bin/python'), args(seed), opts).then(() => null, (e) => e as { code: number; stderr: string });
      const refused = await fail(strangerSeed);
      expect(refused?.code).toBe(1);
      expect(refused?.stderr).toMatch(/refused the NKey in .*stranger\.nk/);
      const unreadable = await fail(broken);
      expect(unreadable?.stderr).toMatch(/the NKey in .*broken\.nk: not an NKey seed: wrong length or checksum/);
      for (const e of [refused, unreadable]) expect(e?.stderr).not.toMatch(/SUA[A-Z2-7]{20,}/); // no seed printed
    } finally {
      server.stop();
    }
  }, 120_000);

  it('a .creds file (operator, account and user JWTs): a TypeScript sink stores what a Python client publishes, over JetStream; a user of an unknown account refused', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-creds-'));
    const auth = operatorAuth(dir);
    const server = await startNatsConfig(auth.config);
    try {
      const nc = await connectNats({ servers: server.url, creds: auth.creds }, 'sim');
      const sub = nc.subscribe('hello', { max: 1 });
      nc.publish('hello', 'world');
      for await (const m of sub) expect(new TextDecoder().decode(m.data)).toBe('world');
      await nc.close();
      await expect(connectNats({ servers: server.url, creds: auth.otherCreds }, 'x')).rejects.toMatchObject({ code: 'ERR_AUTH', message: expect.stringMatching(/refused the credentials in .*stranger\.creds/) });
      await expect(connectNats({ servers: server.url }, 'x')).rejects.toMatchObject({ code: 'ERR_AUTH' });
      // JetStream in the account: a sink and a Python client, both with the .creds file.
      using db = DatabaseManager.open(path.join(dir, 'creds.sqlite'), { fields: [{ name: 'x', shape: [3] }, { name: 'y', shape: [2] }] });
      const received = await receiving(new RemoteSampleSink({ servers: server.url, creds: auth.creds, dataset: 'py-creds', database: db }), 8);
      const args = (creds: string) => ['-m', 'torchloop_env', '--servers', server.url, '--dataset', 'py-creds', '--client-id', 'py-cr', '--env', 'tiny_env:Tiny', '--batch-size', '4', '--batches', '2', '--creds', creds];
      const opts = { encoding: 'utf8' as const, env: { ...process.env, PYTHONPATH: path.resolve('test/helpers') } };
      const ok = await run(path.resolve('.torch/bin/python'), args(auth.creds), opts);
      expect(JSON.parse(ok.stdout.trim().split('\n').at(-1)!)).toEqual({ published: 2, samples: 8 });
      expect(await received.done).toBe(8);
      const refused = await run(path.resolve('.torch/bin/python'), args(auth.otherCreds), opts).then(() => null, (e) => e as { code: number; stderr: string });
      expect(refused?.code).toBe(1);
      expect(refused?.stderr).toMatch(/refused the credentials in .*stranger\.creds/);
    } finally {
      server.stop();
    }
  }, 120_000);
});
