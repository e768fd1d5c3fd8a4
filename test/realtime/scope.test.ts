// The live scope in a real browser: Debian's headless Chromium driven by playwright-core
// (executablePath; nothing downloads a browser). The page loads and its plot follows the loop.
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ControlLoop } from '../../lib/index.ts';

const CHROMIUM = '/usr/bin/chromium';
const graphs = new URL('../helpers/loop-graphs.ts', import.meta.url);

describe.skipIf(!existsSync(CHROMIUM))('the ControlLoop scope, in Chromium', () => {
  it('serves a page on loopback whose plot and jitter histogram update while the loop runs', async () => {
    const loop = new ControlLoop({ module: graphs, export: 'pd', hz: 1000, signals: ['plant.sout_position', 'pd.sout_torque'] });
    await loop.start();
    const scope = await loop.scope({ rate: 50 });
    expect(scope.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(scope.url);
      await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 3, undefined, { timeout: 15_000 });
      const first = Number(await page.evaluate(() => document.body.dataset.tick));
      await page.waitForFunction((t) => Number(document.body.dataset.tick) > t + 100, first, { timeout: 15_000 });
      expect(await page.locator('canvas').count()).toBe(3); // two signals and the jitter histogram
      expect(await page.locator('#stats').textContent()).toMatch(/running at 1000 Hz, tick \d+, missed \d+, jitter p50 [\d.]+ µs/);
      // Something was drawn: the plot's pixels are not all blank.
      const inked = await page.evaluate(() => {
        const c = document.querySelector('canvas') as HTMLCanvasElement;
        const px = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < px.length; i += 4) if (px[i] > 0) n++;
        return n;
      });
      expect(inked).toBeGreaterThan(100);
    } finally {
      await browser.close();
      await scope.close();
      await loop.stop();
    }
  }, 60_000);
});
