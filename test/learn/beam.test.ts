// The beam (torchloop:beam, real MuJoCo WASM) through the whole pipeline: generate in worker
// threads, train, predict beside the solver; the prediction page in Debian's Chromium.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { BeamEnvironment, DataGeneration, TrainingPipeline, loadExperiment, runPrediction } from '../../lib/index.ts';
import { environmentSource } from '../../lib/learn/config.ts';
import { PredictionPage, gridEdges } from '../../lib/learn/prediction-page.ts';

const CHROMIUM = '/usr/bin/chromium';

describe('the MuJoCo beam environment', () => {
  it('settles under a patch load, pinned at x = 0; rejects a sample that does not settle or blows up', async () => {
    const env = new BeamEnvironment({ seed: 2 });
    await env.create();
    expect(env.fields.map((f) => [f.name, f.shape])).toEqual([['forces', [72, 3]], ['displacements', [72, 3]], ['settle_steps', [1]], ['solve_ms', [1]]]);
    expect(env.pinned.filter(Boolean)).toHaveLength(9); // the 3 x 3 face at x = 0
    env.beginSample();
    env.step();
    expect(env.checkSample()).toBe(true);
    expect(env.lastSteps).toBeGreaterThan(10);
    // Loaded nodes form one patch on the surface; pinned nodes neither carry load nor move.
    const loaded = [...Array(72).keys()].filter((v) => env.forces[3 * v] !== 0 || env.forces[3 * v + 1] !== 0 || env.forces[3 * v + 2] !== 0);
    expect(loaded.length).toBeGreaterThan(0);
    for (const v of loaded) expect(env.surface).toContain(v);
    for (let v = 0; v < 72; v++) if (env.pinned[v]) expect(Math.hypot(env.displacements[3 * v], env.displacements[3 * v + 1], env.displacements[3 * v + 2])).toBeLessThan(1e-9);
    // Settled: the load's direction moves the loaded nodes that way.
    const v0 = loaded[0];
    const dot = [0, 1, 2].reduce((a, k) => a + env.forces[3 * v0 + k] * env.displacements[3 * v0 + k], 0);
    expect(dot).toBeGreaterThan(0);
    env.close();

    const capped = new BeamEnvironment({ seed: 2, maxSteps: 5, minSteps: 1 });
    await capped.create();
    capped.beginSample();
    capped.step();
    expect(capped.checkSample()).toBe(false);
    expect(capped.lastProblem).toBe('did not settle in 5 steps');
    capped.close();

    const wild = new BeamEnvironment({ seed: 2, forceMax: 1e7 });
    await wild.create();
    wild.beginSample();
    wild.step();
    expect(wild.checkSample()).toBe(false);
    expect(wild.lastProblem).toMatch(/blew up/);
    wild.close();
  }, 60_000);

  it('generates in 2 workers, trains, and predicts beside the solver; the page shows it in Chromium', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tl-beam-'));
    writeFileSync(path.join(dir, 'beam.yaml'), `name: beam-test\noutput: runs/beam\nenvironment:\n  module: torchloop:beam\n  workers: 2\ndatabase:\n  file: beam.sqlite\nnetwork:\n  input: forces\n  target: displacements\n  mlp: { sizes: [216, 256, 216], activation: relu }\ntraining:\n  epochs: 4\n  batchSize: 16\n  batchesPerEpoch: 6\nvalidation:\n  samples: 32\nprediction:\n  steps: 4\n`);
    const exp = loadExperiment(path.join(dir, 'beam.yaml'));
    const gen = await new DataGeneration({ environment: environmentSource(exp), workers: 2, seed: 0, database: path.join(dir, 'beam.sqlite'), batchNb: 6, batchSize: 16 }).execute();
    expect(gen.samples).toBe(96);
    const report = await new TrainingPipeline(exp, { progress: false }).execute();
    expect(report.epochs).toBe(4);
    expect(report.history.at(-1)!.valLoss!).toBeLessThan(report.history[0].valLoss!);
    // The plots: labelled axes with units, a legend, a log scale for the losses.
    const svg = readFileSync(report.plots.find((p) => p.endsWith('/loss.svg'))!, 'utf8');
    expect(svg).toContain('>loss (MSE of normalized fields) (log)<');
    expect(svg).toContain('>epoch<');
    for (const name of ['training loss', 'validation loss']) expect(svg).toContain(`>${name}<`);

    const page = new PredictionPage(0);
    const url = await page.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const browser = existsSync(CHROMIUM)
      ? await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] })
      : null;
    try {
      const tab = await browser?.newPage({ viewport: { width: 1240, height: 760 } });
      let opened: Promise<unknown> | null = null;
      const pred = await runPrediction(exp, path.join(report.output, 'checkpoints', 'best.pt'), {
        record: false,
        onStart: (env) => {
          const e = env as BeamEnvironment;
          page.init({ name: exp.name, rest: e.rest, edges: gridEdges(e.rest, e.params.spacing), scale: 3, units: 'm', history: report.history });
          opened = tab?.goto(url) ?? null;
        },
        onPrediction: (f) => page.frame(f),
      });
      expect(pred.steps).toBe(4);
      expect(pred.meanError).toBeGreaterThan(0);
      expect(pred.maxError).toBeGreaterThanOrEqual(pred.meanError);
      expect(pred.networkMs).toBeGreaterThan(0);
      expect(pred.solverMs).toBeGreaterThan(0);
      expect(pred.speedup).toBeCloseTo(pred.solverMs / pred.networkMs, 6);
      if (!tab) return;
      await opened;
      await tab.waitForFunction(() => Number(document.body.dataset.frames ?? 0) >= 4, undefined, { timeout: 30_000 });
      expect(await tab.locator('#stats').textContent()).toMatch(/prediction 4: mean error [\d.]+%, max [\d.]+% of the max displacement; network [\d.]+ ms, solver [\d.]+ ms: speed-up x\d+/);
      // Both bodies and both charts have ink.
      const inked = await tab.evaluate(() =>
        [...document.querySelectorAll('canvas')].map((c) => {
          const px = (c as HTMLCanvasElement).getContext('2d')!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data;
          let n = 0;
          for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
          return n;
        }),
      );
      expect(inked).toHaveLength(5);
      for (const n of inked) expect(n).toBeGreaterThan(500);
      const shots = path.resolve('test-results');
      mkdirSync(shots, { recursive: true });
      await tab.screenshot({ path: path.join(shots, 'prediction-page.png') });
    } finally {
      await browser?.close();
      await page.close();
    }
  }, 240_000);
});
