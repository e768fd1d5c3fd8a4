// sim2sim on a published robot: unitree_rl_gym's H1 and its LSTM policy, in MuJoCo's WASM
// build, against the authors' own deploy_mujoco.py run headless by the pip wheel's MuJoCo and
// PyTorch 2.13 at setup (test/fixtures/sim2sim/h1.json, scripts/sim2sim_reference.py).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { TorchError, haveRobots, robotsRoot } from '../../lib/index.ts';
import { runSim2Sim } from '../../lib/cli/sim2sim.ts';
import type { Trajectory } from '../../lib/sim/sim2sim.ts';

const REFERENCE = 'test/fixtures/sim2sim/h1.json';
const CHROMIUM = '/usr/bin/chromium';
// In CI the robot files (../shared/robots) and the reference are there: a missing one fails.
const have = haveRobots() && existsSync(REFERENCE);
if (process.env.CI && !have) throw new Error(`sim2sim needs the robot files and ${REFERENCE} (npm test's setup makes it)`);
const tmp = mkdtempSync(path.join(tmpdir(), 'torchloop-sim2sim-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!have)('sim2sim: the H1 walks as in its authors\' loop', () => {
  it('follows the Python reference to 1e-4 m at every policy tick over 10 s, and stays up', async () => {
    const ref = JSON.parse(readFileSync(REFERENCE, 'utf8')) as Trajectory;
    const out = path.join(tmp, 'h1.json');
    const r = await runSim2Sim({ config: 'h1.yaml', seconds: 10, trajectory: out });
    const got = JSON.parse(readFileSync(out, 'utf8')) as Trajectory;
    expect(got.dt).toBe(ref.dt);
    expect(got.t.length).toBe(ref.t.length);
    expect(ref.t.length).toBe(500);
    let worst = 0, at = -1;
    for (let i = 0; i < ref.t.length; i++) {
      expect(got.t[i]).toBeCloseTo(ref.t[i], 9);
      for (let k = 0; k < 3; k++) {
        const d = Math.abs(got.pos[i][k] - ref.pos[i][k]);
        if (d > worst) [worst, at] = [d, i];
      }
    }
    expect(worst, `largest base position difference ${worst} m at tick ${at}`).toBeLessThan(1e-4);
    expect(r.fell).toBe(false);
    expect(Math.min(...ref.pos.map((p) => p[2]))).toBeGreaterThan(0.5);
    // It walked: the policy's command is 0.5 m/s forward.
    expect(r.distance).toBeGreaterThan(3);
    expect(got.action[0]).toHaveLength(10);
  });

  it('says which config field is wrong: kps of the wrong length, num_obs that is not the policy\'s', async () => {
    const root = robotsRoot();
    const original = readFileSync(path.join(root, 'deploy', 'deploy_mujoco', 'configs', 'h1.yaml'), 'utf8');
    const badKps = path.join(tmp, 'bad-kps.yaml');
    writeFileSync(badKps, original.replace(/^kps: \[.*\]$/m, 'kps: [150, 150, 150]'));
    const e1 = await runSim2Sim({ config: badKps, root, seconds: 0.1 }).catch((e) => e);
    expect(e1).toBeInstanceOf(TorchError);
    expect(e1.code).toBe('ERR_SHAPE');
    expect(e1.message).toContain('kps');
    expect(e1.message).toContain(badKps);

    const badObs = path.join(tmp, 'bad-obs.yaml');
    writeFileSync(badObs, original.replace(/^num_obs: \d+/m, 'num_obs: 40'));
    const e2 = await runSim2Sim({ config: badObs, root, seconds: 0.1 }).catch((e) => e);
    expect(e2).toBeInstanceOf(TorchError);
    expect(e2.code).toBe('ERR_SHAPE');
    expect(e2.message).toContain('num_obs');

    const noMesh = path.join(tmp, 'no-xml.yaml');
    writeFileSync(noMesh, original.replace(/^xml_path: .*$/m, 'xml_path: "{LEGGED_GYM_ROOT_DIR}/resources/robots/h1/nothing.xml"'));
    const e3 = await runSim2Sim({ config: noMesh, root, seconds: 0.1 }).catch((e) => e);
    expect(e3.code).toBe('ERR_NOT_FOUND');
    expect(e3.message).toContain('nothing.xml');
  });

  it('runs from the command line and prints what the robot did', () => {
    const out = execFileSync(process.execPath, ['bin/torchloop.mjs', 'sim2sim', 'h1.yaml', '--seconds', '1', '--json'], { encoding: 'utf8' });
    const r = JSON.parse(out);
    expect(r.ticks).toBe(50);
    expect(r.fell).toBe(false);
    expect(r.physicsMs.p50).toBeGreaterThan(0);
    expect(r.policyMs.p50).toBeGreaterThan(0);
  });

  it.skipIf(!existsSync(CHROMIUM))('draws the walking robot in the scope\'s 3D view (Chromium), its pixels moving', async () => {
    const abort = new AbortController();
    const shots: { dark: Uint8Array; tick: number }[] = [];
    let failure: unknown;
    const run = runSim2Sim({
      config: 'h1.yaml', seconds: 120, view: true, abort: abort.signal,
      onScope: async (scope) => {
        const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
        try {
          const page = await browser.newPage({ viewport: { width: 1700, height: 1000 } });
          await page.goto(scope.url);
          const shot = async () => {
            // The robot is dark (rgba 0.1) on a light floor and sky: its pixels, from the canvas itself.
            const r = await page.evaluate(() => {
              const c = document.getElementById('scene') as HTMLCanvasElement;
              const g = document.createElement('canvas');
              g.width = c.width; g.height = c.height;
              const x = g.getContext('2d')!;
              x.drawImage(c, 0, 0);
              const px = x.getImageData(0, 0, c.width, c.height).data;
              const dark: number[] = [];
              for (let i = 0; i < px.length; i += 4) dark.push(px[i] + px[i + 1] + px[i + 2] < 150 ? 1 : 0);
              return { dark, tick: Number(document.body.dataset.sceneTick) };
            });
            shots.push({ dark: Uint8Array.from(r.dark), tick: r.tick });
          };
          await page.waitForFunction(() => Number(document.body.dataset.sceneFrames ?? 0) >= 2, undefined, { timeout: 90_000 });
          await shot();
          await page.locator('#scene').screenshot({ path: path.join(tmp, 'scene-1.png') });
          await page.waitForFunction((t) => Number(document.body.dataset.sceneTick) > t + 25, shots[0].tick, { timeout: 90_000 });
          await shot();
          if (process.env.TORCHLOOP_SCREENSHOT) await page.screenshot({ path: process.env.TORCHLOOP_SCREENSHOT });
        } catch (e) {
          failure = e;
        } finally {
          await browser.close();
          abort.abort();
        }
      },
    });
    const r = await run;
    if (failure) throw failure;
    expect(r.fell).toBe(false);
    expect(shots).toHaveLength(2);
    const count = (a: Uint8Array) => a.reduce((s, v) => s + v, 0);
    // The robot covers thousands of pixels of the 720x480 view in both, and they moved.
    expect(count(shots[0].dark)).toBeGreaterThan(3000);
    expect(count(shots[1].dark)).toBeGreaterThan(3000);
    let changed = 0;
    for (let i = 0; i < shots[0].dark.length; i++) if (shots[0].dark[i] !== shots[1].dark[i]) changed++;
    expect(changed).toBeGreaterThan(300);
    expect(shots[1].tick).toBeGreaterThan(shots[0].tick);
  }, 240_000);
});
