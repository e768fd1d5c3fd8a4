// Python simulators feed torchloop: python/torchloop_env (installed from the checkout into the
// project's venv by scripts/setup.mjs) speaks the remote-environment protocol to a real
// nats-server on loopback. Its MuJoCo beam (the pip wheel) is the same model as
// torchloop:beam (the WASM build); a client killed with SIGKILL mid-stream loses and doubles
// nothing; garbage and other versions get error replies while the sink goes on.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BeamEnvironment, DatabaseManager, RemoteSampleSink, beamMjcf } from '../../lib/index.ts';
import { natsAvailable, startNats } from '../helpers/nats.ts';

const run = promisify(execFile);
const PY = path.resolve('.torch/bin/python');
const client = (id: string, seed: number, batches: number) => ['-m', 'torchloop_env', '--servers', '', '--dataset', 'beam_py', '--client-id', id, '--env', 'torchloop_env.beam:BeamEnvironment', '--seed', String(seed), '--batch-size', '4', '--batches', String(batches)];
if (!natsAvailable && process.env.CI === 'true') throw new Error('nats-server is missing on CI: scripts/setup.mjs should have installed it');

// Neither side touches libtorch: once, in the main project.
describe.runIf(process.env.TORCHLOOP_BUILD === 'main')('the Python beam (pip MuJoCo) against torchloop:beam (WASM MuJoCo)', () => {
  it('writes the same MJCF, and the same forces settle to the same displacements', async () => {
    const env = new BeamEnvironment({ seed: 5 });
    await env.create();
    env.drawForces();
    const forces = Array.from(env.forces);
    expect(env.solve()).toBe(true);
    const child = execFile(PY, ['test/helpers/python_beam_solve.py'], { encoding: 'utf8' });
    child.stdin!.end(JSON.stringify(forces));
    const out = await new Promise<string>((resolve, reject) => {
      let s = '';
      child.stdout!.on('data', (d) => (s += d));
      child.once('exit', (code) => (code === 0 ? resolve(s) : reject(new Error(`python exited ${code}`))));
    });
    const py = JSON.parse(out) as { xml: string; ok: boolean; steps: number; displacements: number[]; surface: number[] };
    expect(py.xml).toBe(beamMjcf(env.params));
    expect(py.surface).toEqual(env.surface);
    expect(py.ok).toBe(true);
    const largest = Math.max(...env.displacements.map(Math.abs));
    expect(largest).toBeGreaterThan(1e-3);
    const diff = Math.max(...py.displacements.map((v, i) => Math.abs(v - env.displacements[i])));
    expect(diff).toBeLessThan(1e-3 * largest); // one compiler's rounding against another's
    expect(Math.abs(py.steps - env.lastSteps)).toBeLessThanOrEqual(2);
    env.close();
  }, 60_000);
});

describe.skipIf(!natsAvailable || process.env.TORCHLOOP_BUILD !== 'main')('Python environment clients over NATS JetStream', () => {
  let nats: Awaited<ReturnType<typeof startNats>>;
  let fields: BeamEnvironment['fields'];
  beforeAll(async () => {
    nats = await startNats();
    const env = new BeamEnvironment();
    await env.create();
    fields = env.fields;
    env.close();
  });
  afterAll(() => nats?.stop());
  const tmpDb = (f = fields) => DatabaseManager.open(path.join(mkdtempSync(path.join(tmpdir(), 'tl-py-')), 'beam.sqlite'), { fields: f });

  it('a client killed with SIGKILL mid-stream and started again: every batch stored once, none lost', async () => {
    using db = tmpDb();
    const args = client('py-a', 1, 6);
    args[3] = nats.url;
    // The first run is killed once it has published batch 2 (an event on its stdout, not a timer).
    const first = spawn(PY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = '';
    await new Promise<void>((resolve, reject) => {
      first.stdout!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/published 2\b/.test(seen)) {
          first.kill('SIGKILL');
          resolve();
        }
      });
      first.once('exit', (code) => reject(new Error(`the client ended (${code}) before it was killed: ${seen}`)));
    });
    await new Promise((r) => first.once('exit', r));
    expect(first.signalCode).toBe('SIGKILL');
    // The same client again (same id and seed): it republishes batches 0..5.
    const { stdout } = await run(PY, args, { encoding: 'utf8' });
    expect(JSON.parse(stdout.trim().split('\n').at(-1)!)).toEqual({ published: 6, samples: 24 });
    const sink = new RemoteSampleSink({ servers: nats.url, dataset: 'beam_py', database: db });
    expect(await sink.receive({ samples: 24, timeoutMs: 60_000 })).toBe(24);
    expect(await sink.receive({ samples: 1, timeoutMs: 1500 })).toBe(0); // nothing more comes
    expect(db.count('training')).toBe(24);
    const keys = db.query<{ key: string }>('SELECT key FROM received_batches ORDER BY key').map((r) => r.key);
    expect(keys).toEqual(['py-a/0', 'py-a/1', 'py-a/2', 'py-a/3', 'py-a/4', 'py-a/5']);
    expect(sink.rejected).toBe(0);
    // Real beam samples: forces on a patch, displacements that follow them, settled.
    const all = db.read(db.ids('training'));
    const f = all.forces as Float32Array, u = all.displacements as Float32Array, steps = all.settle_steps as Float32Array;
    for (let s = 0; s < 24; s++) {
      const fs = f.subarray(s * 216, (s + 1) * 216), us = u.subarray(s * 216, (s + 1) * 216);
      expect(fs.some((v) => v !== 0)).toBe(true);
      expect(Math.max(...us.map(Math.abs))).toBeGreaterThan(1e-4);
      expect(steps[s]).toBeLessThan(2000);
    }
    expect(new Set(Array.from(f).map((v) => v.toFixed(5))).size).toBeGreaterThan(24); // different loads
  }, 120_000);

  it('garbage, another version, a wrong shape, a NaN and a short payload get error replies; the good batch is stored', async () => {
    using db = tmpDb([
      { name: 'x', shape: [3], dtype: 'float32', kind: 'training', size: 3 },
      { name: 'y', shape: [2], dtype: 'float32', kind: 'training', size: 2 },
    ]);
    const sink = new RemoteSampleSink({ servers: nats.url, dataset: 'bad_py', database: db });
    const py = run(PY, ['test/helpers/python_garbage.py', nats.url, 'bad_py'], { encoding: 'utf8' });
    expect(await sink.receive({ samples: 4, timeoutMs: 60_000 })).toBe(4);
    const replies = JSON.parse((await py).stdout) as { key: string; field: string | null; reason: string }[];
    const byKey = Object.fromEntries(replies.map((r) => [r.key, r]));
    expect(byKey['py-bad/0'].reason).toMatch(/no tl-version header/);
    expect(byKey['py-bad/1'].reason).toMatch(/protocol version '2' is not supported/);
    expect(byKey['py-bad/2']).toMatchObject({ field: 'x', reason: expect.stringMatching(/field 'x' has shape \[4\] in the batch, \[3\] here/) });
    expect(byKey['py-bad/3']).toMatchObject({ field: 'y', reason: expect.stringMatching(/field 'y' of sample 2 has NaN at index 1/) });
    expect(byKey['py-bad/4']).toMatchObject({ field: 'y', reason: expect.stringMatching(/field 'y' is cut short/) });
    expect(byKey['py-bad/5'].reason).toMatch(/tl-count 'lots' is not a sample count/);
    expect(sink.rejected).toBe(6);
    expect(sink.rejections.map((r) => r.key).sort()).toEqual(['py-bad/0', 'py-bad/1', 'py-bad/2', 'py-bad/3', 'py-bad/4', 'py-bad/5']);
    expect(db.count('training')).toBe(4);
    expect(db.query<{ key: string }>('SELECT key FROM received_batches').map((r) => r.key)).toEqual(['py-bad/6']);
  }, 120_000);
});
