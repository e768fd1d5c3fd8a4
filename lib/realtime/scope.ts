import { readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { TorchError } from '../errors.ts';
import { announce, httpAccess } from '../http-access.ts';
import type { Scene } from '../sim/scene.ts';
import type { ControlLoop } from './control-loop.ts';
import { SCENE_SCRIPT } from './scope-scene.ts';

export interface ScopeOptions {
  /** Port (default 0: any free one). */
  port?: number;
  /**
   * The address to listen on: 127.0.0.1 by default. Any other (say 0.0.0.0, for a robot's
   * screen elsewhere) makes the page want a token, printed at start (`scope.token`).
   */
  host?: string;
  /** The token for a non-loopback host (default: a random one). */
  token?: string;
  /** Shared signals to plot (default: every shared signal of the loop). */
  signals?: string[];
  /** Samples per second taken from the loop for the page (default 100). */
  rate?: number;
  /** Samples kept per signal (default 1000). */
  history?: number;
  /**
   * A 3D view of a MuJoCo scene beside the plots (three.js, an optional peer dependency):
   * `poses` is the shared signal of the geoms' poses (a MujocoEntity's `sout_geom_pose`),
   * read at the browser's frame rate; `follow`, a shared signal whose first three values the
   * camera follows (the base position); `describe` gives the geoms and meshes (sceneOf()).
   */
  scene?: { poses: string; follow?: string; describe: () => Promise<Scene> };
}

export interface Scope {
  /** The page's URL (with its token when it has one). */
  url: string;
  /** Null on loopback. */
  token: string | null;
  close(): Promise<void>;
}

/**
 * A live scope for a ControlLoop: a page on 127.0.0.1 that plots chosen shared signals and
 * the loop's tick-jitter histogram. Signals are sampled from shared memory at `rate` (the
 * loop's own rate is decimated for the browser); the page polls /data. Nothing opens a
 * browser.
 */
export async function serveScope(loop: ControlLoop, options: ScopeOptions = {}): Promise<Scope> {
  const names = options.signals ?? loop.signals;
  const signals = names.map((n) => loop.signal(n));
  const history = options.history ?? 1000;
  const rate = options.rate ?? 100;
  // Ring buffers: sample k of signal s at rings[s][k % history] (every component).
  const rings = signals.map((s) => new Float64Array(history * s.length));
  const ticks = new Float64Array(history);
  let taken = 0;
  const sampler = setInterval(() => {
    if (!loop.running) return;
    const at = taken % history;
    signals.forEach((s, i) => {
      rings[i].set(s.value, at * s.length);
      if (i === 0) ticks[at] = s.tick;
    });
    taken++;
  }, 1000 / rate);
  sampler.unref();

  const scene = options.scene && sceneRoutes(loop, options.scene);
  const access = httpAccess('the scope', options.host, options.token);
  const server: Server = createServer((req, res) => {
    if (!access.allow(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (scene && url.pathname.startsWith('/scene/')) {
      scene(url.pathname, res).catch((e: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(e.message));
      });
    } else if (url.pathname === '/data') {
      const since = Math.max(Number(url.searchParams.get('since') ?? 0) || 0, taken - history);
      const out: Record<string, number[][]> = {};
      signals.forEach((s, i) => {
        const rows: number[][] = [];
        for (let k = since; k < taken; k++) rows.push(Array.from(rings[i].subarray((k % history) * s.length, (k % history + 1) * s.length)));
        out[s.path] = rows;
      });
      const st = loop.stats();
      const tickList: number[] = [];
      for (let k = since; k < taken; k++) tickList.push(ticks[k % history]);
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify({ next: taken, ticks: tickList, signals: out, running: loop.running, hz: loop.options.hz, stats: { ticks: st.ticks, missed: st.missed, jitter: st.jitter, compute: st.compute, period: st.period }, jitterHistogram: jitterHistogram(loop) }));
    } else if (url.pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(options.scene ? PAGE.replace('<!--scene-->', SCENE_HTML) : PAGE);
    } else {
      res.writeHead(404).end();
    }
  });
  const port = options.port ?? 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new TorchError('ERR_ARGUMENT', `The scope cannot listen on ${access.host}:${port}: ${e.message}`)));
    server.listen(port, access.host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  announce('the scope', access, bound);
  return {
    url: access.url(bound),
    token: access.token,
    close: () => {
      clearInterval(sampler);
      server.closeAllConnections?.();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const SCENE_HTML = `<div><h4>scene</h4><div id="scene-status">loading the scene...</div><canvas id="scene" width="720" height="480"></canvas></div>
<script type="importmap">{"imports":{"three":"/scene/three/three.module.js"}}</script>
<script type="module">${SCENE_SCRIPT}</script>`;

/**
 * The 3D view's routes: /scene/info (geoms and meshes), /scene/meshes (their binary data),
 * /scene/pose (the latest poses, read from shared memory now) and /scene/three/ (three.js
 * from the user's node_modules).
 */
function sceneRoutes(loop: ControlLoop, o: NonNullable<ScopeOptions['scene']>) {
  const poses = loop.signal(o.poses);
  const follow = o.follow ? loop.signal(o.follow) : null;
  let described: Promise<Scene> | undefined;
  const describe = () => (described ??= o.describe());
  let threeDir: string | null | undefined;
  return async (pathname: string, res: ServerResponse) => {
    if (pathname === '/scene/info') {
      const s = await describe();
      json(res, { ngeom: s.ngeom, geoms: s.geoms, meshes: s.meshes, three: three() !== null });
    } else if (pathname === '/scene/meshes') {
      const s = await describe();
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': s.data.length });
      res.end(s.data);
    } else if (pathname === '/scene/pose') {
      const pose = Array.from(poses.value);
      json(res, { tick: poses.tick, running: loop.running, pose, follow: follow ? Array.from(follow.value.subarray(0, 3)) : null });
    } else if (pathname === '/scene/three/three.module.js' || pathname === '/scene/three/three.core.js') {
      const dir = three();
      if (!dir) return void res.writeHead(404, { 'content-type': 'text/plain' }).end("The 3D view needs the package 'three': npm install three");
      res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' });
      res.end(readFileSync(path.join(dir, path.basename(pathname))));
    } else {
      res.writeHead(404).end();
    }
  };
  function three(): string | null {
    if (threeDir === undefined) {
      try {
        threeDir = path.dirname(createRequire(import.meta.url).resolve('three'));
      } catch {
        threeDir = null;
      }
    }
    return threeDir;
  }
}

function json(res: ServerResponse, body: unknown) {
  res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** The jitter histogram as [upper edge µs, count] over its non-empty range, 1%-buckets merged 10 to one. */
function jitterHistogram(loop: ControlLoop): [number, number][] {
  const buckets = loop.jitterBuckets();
  let lo = buckets.findIndex((c) => c > 0);
  if (lo < 0) return [];
  let hi = buckets.length - 1;
  while (hi > lo && buckets[hi] === 0) hi--;
  const out: [number, number][] = [];
  for (let i = lo; i <= hi; i += 10) {
    let c = 0;
    for (let j = i; j < Math.min(i + 10, hi + 1); j++) c += buckets[j];
    out.push([1e-4 * Math.pow(1.01, Math.min(i + 10, hi + 1) - 1) * 1000, c]);
  }
  return out;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>torchloop scope</title>
<style>body{font:13px system-ui,sans-serif;margin:12px;background:#fafafa}canvas{background:#fff;border:1px solid #ccc;display:block;margin:6px 0}#stats{font-family:monospace}#panes{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}</style>
</head><body>
<h3>torchloop scope</h3>
<div id="stats">waiting for the loop...</div>
<div id="panes"><!--scene--><div id="plots"></div></div>
<h4>tick start jitter (µs)</h4><canvas id="jitter" width="900" height="160"></canvas>
<script>
const colors = ['#1f77b4','#ff7f0e','#2ca02c','#d62728','#9467bd','#8c564b','#e377c2','#7f7f7f','#bcbd22','#17becf','#393b79','#637939'];
const series = {}; let next = 0; let updates = 0;
function canvasFor(name) {
  let c = document.getElementById('plot-' + name);
  if (!c) {
    const h = document.createElement('h4'); h.textContent = name; document.getElementById('plots').appendChild(h);
    c = document.createElement('canvas'); c.id = 'plot-' + name; c.width = 900; c.height = 180; document.getElementById('plots').appendChild(c);
  }
  return c;
}
function drawSeries(name, rows) {
  const c = canvasFor(name), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  if (!rows.length) return;
  let lo = Infinity, hi = -Infinity;
  for (const r of rows) for (const v of r) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (hi - lo < 1e-9) { hi += 1; lo -= 1; }
  const n = rows[0].length;
  for (let j = 0; j < n; j++) {
    g.strokeStyle = colors[j % colors.length]; g.beginPath();
    rows.forEach((r, i) => { const x = i * c.width / Math.max(1, rows.length - 1), y = c.height - (r[j] - lo) / (hi - lo) * (c.height - 10) - 5; i ? g.lineTo(x, y) : g.moveTo(x, y); });
    g.stroke();
  }
  g.fillStyle = '#333'; g.fillText(hi.toPrecision(3), 4, 12); g.fillText(lo.toPrecision(3), 4, c.height - 4);
}
function drawJitter(h) {
  const c = document.getElementById('jitter'), g = c.getContext('2d');
  g.clearRect(0, 0, c.width, c.height);
  if (!h.length) return;
  const max = Math.max(...h.map((b) => b[1])), w = c.width / h.length;
  g.fillStyle = '#1f77b4';
  h.forEach(([edge, count], i) => { const bh = count ? Math.max(1, Math.log1p(count) / Math.log1p(max) * (c.height - 20)) : 0; g.fillRect(i * w, c.height - 14 - bh, Math.max(1, w - 1), bh); });
  g.fillStyle = '#333'; g.fillText(h[0][0].toFixed(1) + ' µs', 2, c.height - 2); g.fillText(h[h.length - 1][0].toFixed(1) + ' µs', c.width - 70, c.height - 2);
}
async function poll() {
  try {
    const d = await (await fetch('/data?since=' + next, { cache: 'no-store' })).json();
    next = d.next;
    for (const [name, rows] of Object.entries(d.signals)) {
      const s = (series[name] = (series[name] || []).concat(rows));
      if (s.length > 1000) s.splice(0, s.length - 1000);
      drawSeries(name, s);
    }
    drawJitter(d.jitterHistogram);
    const j = d.stats.jitter;
    updates++;
    document.getElementById('stats').textContent = (d.running ? 'running' : 'stopped') + ' at ' + d.hz + ' Hz, tick ' + (d.ticks.length ? d.ticks[d.ticks.length - 1] : '-') +
      ', missed ' + d.stats.missed + ', jitter p50 ' + (j.p50 * 1000).toFixed(1) + ' µs, p99 ' + (j.p99 * 1000).toFixed(1) + ' µs, max ' + (j.max * 1000).toFixed(1) + ' µs';
    document.body.dataset.updates = String(updates);
    document.body.dataset.tick = String(d.ticks.length ? d.ticks[d.ticks.length - 1] : -1);
  } catch (e) {
    document.getElementById('stats').textContent = 'no data: ' + e;
  }
  setTimeout(poll, 200);
}
poll();
</script></body></html>`;
