// npm run demo, as a newcomer runs it: --help, a short walk of the H1 in MuJoCo, and a short
// run of the arm (--plant arm) in a ControlLoop beside the scope and the main thread's HTTP
// server. (Timing is the bench's business.)
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { haveRobots } from '../../lib/index.ts';

const demo = (...args: string[]) => execFileSync(process.execPath, ['--import', 'tsx', 'demo/control_loop.ts', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('npm run demo', () => {
  it('--help prints the options, not a stack trace', () => {
    const out = demo('--help');
    expect(out).toMatch(/npm run demo \[-- --plant h1\|arm\] \[--seconds N\]/);
    expect(out).toMatch(/npm run demo -- --plant arm \[--policy pd\|mlp\] \[--host loop\|spin\]/);
    expect(out).not.toMatch(/at .*\(.*:\d+:\d+\)/);
  });

  it('runs the PD controller in a ControlLoop while the main thread answers HTTP, without training the MLP policy', () => {
    // The MLP policy (25 s of training) is made only for --policy mlp: not by setup, not by a PD run.
    rmSync('demo/models/mlp_policy.pt', { force: true });
    execFileSync(process.execPath, ['scripts/setup.mjs', '--quiet', '--demo'], { stdio: 'ignore' });
    const out = demo('--plant', 'arm', '--seconds', '2');
    expect(existsSync('demo/models/mlp_policy.pt')).toBe(false);
    expect(out).toMatch(/host: ControlLoop/);
    expect(out).toMatch(/scope: http:\/\/127\.0\.0\.1:\d+\//);
    expect(out).toMatch(/t=1s {2}tracking error \(RMS over joints\) [\d.]+ mrad/); // t=2s too, unless ticks were skipped
    expect(out).toMatch(/tick start jitter/);
    expect(out).toMatch(/missed deadlines: \d+ of 2000/);
    expect(out, out).toMatch(/GCs in the loop: 0/);
    const answered = /HTTP requests answered during the run: (\d+) of (\d+)/.exec(out)!;
    expect(Number(answered[1])).toBeGreaterThan(10); // the main thread stayed free (a count, not a rate: a busy machine answers fewer)
  }, 120_000);

  it.skipIf(!haveRobots() && !process.env.CI)('walks the H1 in MuJoCo in a ControlLoop beside the 3D scope, and says what it did', () => {
    const out = demo('--seconds', '2');
    expect(out).toMatch(/plant: Unitree H1 in MuJoCo/);
    expect(out).toMatch(/scope with the 3D view: http:\/\/127\.0\.0\.1:\d+\//);
    expect(out).toMatch(/t= {2}1 s {2}base x=/);
    expect(out).toMatch(/walked [\d.]+ m in 2\.02 s simulated \(100 policy ticks\)/);
    expect(out).toMatch(/stayed up/);
    expect(out).toMatch(/per policy tick: physics p50 [\d.]+ µs, p99 [\d.]+ µs; policy p50/);
    expect(out).toMatch(/loop: jitter p99 [\d.]+ µs, missed deadlines \d+, GCs 0/);
    const answered = /HTTP requests answered during the run: (\d+) of (\d+)/.exec(out)!;
    expect(Number(answered[1])).toBeGreaterThan(10);
    const wrong = spawnSync(process.execPath, ['--import', 'tsx', 'demo/control_loop.ts', '--wrong'], { encoding: 'utf8' });
    expect(wrong.status).toBe(2);
    expect(wrong.stderr).toMatch(/Unknown option '--wrong'[^]*npm run demo \[-- --plant h1\|arm\]/);
    expect(wrong.stderr).not.toMatch(/at .*\(.*:\d+:\d+\)/);
  }, 120_000);
});

describe('npm run demo:generate', () => {
  it('leaves the dataset and nothing beside it (no -wal, no -shm)', async () => {
    const { mkdtempSync, readdirSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-gen-'));
    const out = execFileSync(process.execPath, ['--import', 'tsx', 'demo/generate.ts', '--batches', '2', '--batch-size', '16', '--workers', '1', '--out', path.join(dir, 'd.sqlite')], { encoding: 'utf8' });
    expect(out).toMatch(/32 samples/);
    expect(readdirSync(dir)).toEqual(['d.sqlite']);
  }, 120_000);
});
