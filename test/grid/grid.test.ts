/**
 * Experiment grids as users run them: `torchloop grid` with local workers and through a real
 * nats-server (JetStream) with `torchloop worker` processes; a worker SIGKILLed mid-run; the
 * summary read back, and the HParams data read by real TensorBoard (its HTTP API).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TorchError } from '../../lib/index.ts';
import { loadGrid } from '../../lib/grid/spec.ts';
import { experimentDir } from '../helpers/experiment.ts';
import { natsAvailable, startNats } from '../helpers/nats.ts';

const BIN = path.resolve('bin/torchloop.mjs');
let dir: string;

const EXP = `defaults: [spring-chain.yaml]
output: run
database: { file: data.sqlite, source: generate-then-reload }
environment: { workers: 0, options: { nodes: 8, iterations: 20 }, module: ${JSON.stringify(path.resolve('lib/data/examples/spring-chain.ts'))} }
network: { mlp: { sizes: [8, 32, 8], activation: tanh } }
training: { epochs: 30, batchSize: 32, batchesPerEpoch: 10, earlyStopping: null }
validation: { samples: 128 }
stats: { histogramsEvery: 0, plots: false }
checkpoint: { saveFrequency: 0 }
`;

function gridFile(name: string, extra = ''): string {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(file, `name: ${name}\nbase: exp.yaml\noutput: ${name}\nproduct:\n  optimizer.lr: [1.0e-3, 3.0e-3]\n  network.mlp.sizes: [[8, 32, 8], [8, 48, 8]]\nseeds: [0, 1]\n${extra}`);
  return file;
}

interface Row extends Record<string, string> {}
function csv(file: string): Row[] {
  const [header, ...lines] = readFileSync(file, 'utf8').trim().split('\n');
  const keys = header.split(',');
  // No cell here holds a comma except 'redone', which is quoted: split on commas outside quotes.
  return lines.map((l) => Object.fromEntries((l.match(/("([^"]|"")*"|[^,]*)(,|$)/g) ?? []).slice(0, keys.length).map((c, i) => [keys[i], c.replace(/,$/, '').replace(/^"|"$/g, '')])));
}

/** Runs a command, calling onLine for each stderr line; resolves to its exit code and output. */
function start(args: string[], onLine: (line: string, child: ChildProcess) => void = () => {}): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: dir });
  let stdout = '', stderr = '', tail = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d));
  child.stderr!.on('data', (d: Buffer) => {
    stderr += d;
    const lines = (tail + d.toString()).split('\n');
    tail = lines.pop()!;
    for (const l of lines) onLine(l, child);
  });
  return { child, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr }))) };
}

function hparams(logdir: string, sessions: number): { experiment: { hparamInfos: { name: string }[]; metricInfos: { name: { tag: string } }[] }; groups: { sessionGroups: { name: string; sessions: { name: string; status: string }[] }[] } } {
  return JSON.parse(execFileSync(path.resolve('.torch/bin/python'), ['test/helpers/tb_hparams.py', logdir, String(sessions)], { encoding: 'utf8' }));
}

function checkSummary(out: string, killedRun: string): Row[] {
  const rows = csv(path.join(out, 'summary.csv'));
  expect(rows.length).toBe(8);
  expect(new Set(rows.map((r) => r.run)).size).toBe(8); // each run once: none lost, none doubled
  expect(rows.every((r) => r.status === 'done')).toBe(true);
  const redone = rows.filter((r) => r.redone !== '');
  expect(redone.map((r) => r.run)).toEqual([killedRun]);
  expect(redone[0].attempts).toBe('2');
  expect(redone[0].redone).toMatch(/attempt 1/);
  expect(rows.filter((r) => r.run !== killedRun).every((r) => r.attempts === '1')).toBe(true);
  for (const r of rows) {
    expect(Number(r.best_val_loss)).toBeGreaterThan(0);
    expect(r.epochs).toBe('30');
  }
  const md = readFileSync(path.join(out, 'summary.md'), 'utf8');
  expect(md).toMatch(/## Points, best first/);
  expect(md).toMatch(new RegExp(`## Redone runs\\n\\n- ${killedRun.replace(/[.+]/g, '\\$&')}: `));
  // Real TensorBoard: four points, each a group of its two seeds, with their metrics.
  const tb = hparams(path.join(out, 'tensorboard'), 8);
  expect(tb.experiment.hparamInfos.map((h) => h.name).sort()).toEqual(['network.mlp.sizes', 'optimizer.lr', 'seed']);
  expect(tb.experiment.metricInfos.map((m) => m.name.tag)).toContain('best_val_loss');
  expect(tb.groups.sessionGroups.length).toBe(4);
  expect(tb.groups.sessionGroups.every((g) => g.sessions.length === 2 && g.sessions.every((s) => s.status === 'STATUS_SUCCESS'))).toBe(true);
  return rows;
}

beforeAll(() => {
  dir = experimentDir('tl-grid-', EXP);
});

describe('grid files', () => {
  it('a product, listed points and seeds make the runs; each run is a validated experiment', () => {
    const g = loadGrid(gridFile('spec', 'points:\n  - { optimizer.lr: 1.0e-2, optimizer.kind: sgd }\nset: { training.epochs: 2 }\n'));
    expect(g.jobs.length).toBe((4 + 1) * 2);
    expect(g.jobs[0].id).toBe('000_lr=0.001_sizes=8-32-8_seed=0');
    expect(g.jobs[9].id).toBe('009_lr=0.01_kind=sgd_seed=1');
    expect(g.jobs[9].document).toMatchObject({ seed: 1, optimizer: { lr: 1e-2, kind: 'sgd' }, training: { epochs: 2 } });
    expect(g.keys).toEqual(['optimizer.lr', 'network.mlp.sizes', 'optimizer.kind']);
    writeFileSync(path.join(dir, 'bad.yaml'), 'name: bad\nbase: exp.yaml\nproduct:\n  optimizer.lrr: [1]\n');
    let e: unknown;
    try {
      loadGrid(path.join(dir, 'bad.yaml'));
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(TorchError);
    expect((e as TorchError).message).toMatch(/run 000_lrr=1: .*unknown key 'optimizer.lrr' \(did you mean 'optimizer.lr'\?\)/s);
  });
});

describe('a grid of 8 runs', () => {
  it('with 2 local workers; a worker SIGKILLed mid-run gives its run back, which is redone once', async () => {
    let killed = '';
    const { done } = start(['grid', gridFile('local'), '--workers', '2'], (line) => {
      // The third run to start: both workers have been busy; kill the one that took it.
      const m = /^run (002_\S+): started on pid (\d+) \(attempt 1\)/.exec(line);
      if (m && !killed) {
        killed = m[1];
        process.kill(Number(m[2]), 'SIGKILL');
      }
    });
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(killed).not.toBe('');
    expect(r.stderr).toMatch(new RegExp(`run ${killed.replace(/[.+]/g, '\\$&')}: given back to the queue, worker pid \\d+ was killed by SIGKILL during attempt 1; attempt 2 follows`));
    checkSummary(path.join(dir, 'local'), killed);
    expect(existsSync(path.join(dir, 'local', 'runs', killed, 'stats.csv'))).toBe(true);
  }, 180_000);

  describe.runIf(natsAvailable)('through NATS JetStream', () => {
    let nats: Awaited<ReturnType<typeof startNats>>;
    beforeAll(async () => {
      nats = await startNats();
    });
    afterAll(() => nats?.stop());

    it('with 2 worker processes; a worker SIGKILLed mid-run loses nothing: its run comes back to the other', async () => {
      const coordinator = start(['grid', gridFile('viaNats'), '--nats', nats.url, '--ack-wait', '3']);
      let killed = '';
      const workers = [0, 1].map(() =>
        start(['worker', '--nats', nats.url, '--grid', 'viaNats', '--allow-module', path.resolve('lib/data/examples/spring-chain.ts')], (line, child) => {
          // The first run either worker starts: SIGKILL that worker in the middle of it.
          const m = /: (\d{3}_\S+) attempt 1 started$/.exec(line);
          if (m && !killed) {
            killed = m[1];
            child.kill('SIGKILL');
          }
        }),
      );
      const r = await coordinator.done;
      expect(r.code, r.stderr).toBe(0);
      const exits = await Promise.all(workers.map((w) => w.done));
      expect(exits.map((e) => e.code).sort()).toEqual([0, null]); // the survivor left when the grid ended
      expect(r.stderr).toMatch(/given back to the queue, attempt 1 went silent/);
      const rows = checkSummary(path.join(dir, 'viaNats'), killed);
      const survivor = exits.find((e) => e.code === 0)!;
      expect(survivor.stderr).toMatch(new RegExp(`${killed.replace(/[.+]/g, '\\$&')} attempt 2 started`));
      expect(rows.find((x) => x.run === killed)!.worker).toMatch(/:\d+$/);
    }, 180_000);
  });
});
