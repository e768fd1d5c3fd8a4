// The pages torchloop serves stay on loopback unless told otherwise; on another address they
// want the token the process prints at start (the scope, the live curves, the prediction page).
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ControlLoop } from '../../lib/index.ts';
import { LivePage } from '../../lib/learn/live.ts';
import { PredictionPage } from '../../lib/learn/prediction-page.ts';

const CHROMIUM = '/usr/bin/chromium';
/** An address of this machine that is not loopback (where there is one). */
const outside = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
const port = (url: string) => Number(new URL(url).port);
const get = (url: string, cookie?: string) => fetch(url, { redirect: 'manual', headers: cookie ? { cookie } : {} });

describe.runIf(process.env.TORCHLOOP_BUILD === 'main')('who may open the pages', () => {
  afterEach(() => vi.restoreAllMocks());

  it('by default on 127.0.0.1 only, without a token; another address of this machine is refused', async () => {
    const page = new PredictionPage(0);
    const url = await page.url;
    try {
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(page.token).toBeNull();
      expect((await get(url)).status).toBe(200);
      if (outside) await expect(get(`http://${outside}:${port(url)}/`)).rejects.toThrow();
    } finally {
      await page.close();
    }
  });

  it('on 0.0.0.0 it prints a token at start and wants it: 401 without, a cookie with it, and the form works in Chromium', async () => {
    const printed: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s) => (printed.push(String(s)), true));
    const page = new PredictionPage(0, '0.0.0.0');
    const url = await page.url;
    vi.restoreAllMocks();
    try {
      const token = page.token!;
      expect(token).toMatch(/^[A-Za-z0-9_-]{24}$/);
      expect(printed.join('')).toMatch(new RegExp(`the prediction page listens on 0\\.0\\.0\\.0:${port(url)}; it wants the token ${token}`));
      expect(url).toBe(`http://127.0.0.1:${port(url)}/?token=${token}`);
      const base = `http://${outside ?? '127.0.0.1'}:${port(url)}`;
      const bare = await get(`${base}/`);
      expect(bare.status).toBe(401);
      expect(await bare.text()).toMatch(/wants its token/);
      expect((await get(`${base}/events`)).status).toBe(401);
      expect((await get(`${base}/?token=wrong${token.slice(5)}`)).status).toBe(401);
      const ok = await get(`${base}/?token=${token}`);
      expect(ok.status).toBe(303);
      const cookie = ok.headers.get('set-cookie')!;
      expect(cookie).toMatch(/^tl_token=[^;]+; HttpOnly; SameSite=Strict/);
      expect((await get(`${base}/`, cookie.split(';')[0])).status).toBe(200);
      if (!existsSync(CHROMIUM)) return;
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
      try {
        const tab = await browser.newPage();
        await tab.goto(`${base}/`);
        expect(await tab.textContent('h3')).toMatch(/wants its token/);
        await tab.fill('#token', token);
        await Promise.all([tab.waitForURL(/\/$/), tab.click('button')]);
        expect(await tab.title()).toBe('torchloop: prediction');
      } finally {
        await browser.close();
      }
    } finally {
      await page.close();
    }
  }, 60_000);

  it('the scope and the live curves take a host the same way', async () => {
    vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const loop = new ControlLoop({ module: new URL('../helpers/loop-graphs.ts', import.meta.url), export: 'pd', hz: 200, signals: ['plant.sout_position'] });
    await loop.start();
    const scope = await loop.scope({ host: '0.0.0.0' });
    const live = new LivePage(0, () => ({}), '0.0.0.0');
    const liveUrl = await live.url;
    vi.restoreAllMocks();
    try {
      for (const [url, token] of [[scope.url, scope.token], [liveUrl, live.token]] as const) {
        expect(token).toMatch(/^[A-Za-z0-9_-]{24}$/);
        expect((await get(`http://127.0.0.1:${port(url)}/`)).status).toBe(401);
        expect((await get(url)).status).toBe(303);
      }
      const local = await loop.scope();
      expect(local.token).toBeNull();
      expect((await get(local.url)).status).toBe(200);
      await local.close();
    } finally {
      live.close();
      await scope.close();
      await loop.stop();
    }
  }, 60_000);
});
