import { optional } from '../optional.ts';
import { writeFileSync } from 'node:fs';
import { ticks, tickText } from './page-chart.ts';

export interface Series {
  name: string;
  points: [number, number][];
}

/**
 * A line chart as SVG, and PNG through resvg when it is installed. The y axis is logarithmic
 * when `log` says so (losses), or by default when the data spans decades; never for values <= 0.
 */
export function writeLineChart(file: string, title: string, xLabel: string, yLabel: string, series: Series[], options: { log?: boolean } = {}): string[] {
  const W = 640, H = 380, pad = { l: 70, r: 150, t: 36, b: 48 };
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd'];
  const all = series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y));
  if (all.length === 0) return [];
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const positive = ys.every((y) => y > 0);
  const log = positive && (options.log ?? Math.max(...ys) / Math.min(...ys) > 30);
  const f = (y: number) => (log ? Math.log10(y) : y);
  const tx = ticks(Math.min(...xs), Math.max(...xs), false, xs.every(Number.isInteger));
  const ty = ticks(f(Math.min(...ys)), f(Math.max(...ys)), log);
  const [x0, x1, y0, y1] = [tx.lo, tx.hi, ty.lo, ty.hi];
  const px = (x: number) => pad.l + ((x - x0) / (x1 - x0 || 1)) * (W - pad.l - pad.r);
  const py = (y: number) => pad.t + (1 - (f(y) - y0) / (y1 - y0 || 1)) * (H - pad.t - pad.b);
  const parts = [
    `<text x="${(W - pad.r + pad.l) / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${title}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="#333"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="#333"/>`,
    `<text x="${(W - pad.r + pad.l) / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${xLabel}</text>`,
    `<text x="16" y="${H / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 16 ${H / 2})">${yLabel}${log ? ' (log)' : ''}</text>`,
  ];
  for (const v of ty.values) {
    const y = py(v).toFixed(1);
    parts.push(`<line x1="${pad.l - 4}" y1="${y}" x2="${W - pad.r}" y2="${y}" stroke="#ddd"/><text x="${pad.l - 6}" y="${+y + 4}" text-anchor="end" font-size="10">${tickText(v)}</text>`);
  }
  for (const v of tx.values) parts.push(`<text x="${px(v).toFixed(1)}" y="${H - pad.b + 16}" text-anchor="middle" font-size="10">${tickText(v)}</text>`);
  series.forEach((s, i) => {
    const pts = s.points.filter(([, y]) => Number.isFinite(y) && (!log || y > 0));
    if (!pts.length) return;
    parts.push(`<polyline points="${pts.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ')}" fill="none" stroke="${colors[i % 5]}" stroke-width="1.8"/>`);
    parts.push(`<rect x="${W - pad.r + 12}" y="${pad.t + 8 + i * 18}" width="14" height="3" fill="${colors[i % 5]}"/><text x="${W - pad.r + 30}" y="${pad.t + 13 + i * 18}" font-size="11">${s.name}</text>`);
  });
  return writeSvg(file, `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, Arial, sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`);
}

/** Writes an SVG and, when resvg is installed, a PNG beside it; returns the files written. */
type ResvgClass = new (svg: string, options: object) => { render(): { asPng(): Uint8Array } };
let warnedNoPng = false;

export function writeSvg(file: string, svg: string): string[] {
  writeFileSync(file, svg);
  const out = [file];
  let Resvg: ResvgClass;
  try {
    ({ Resvg } = optional<{ Resvg: ResvgClass }>('@resvg/resvg-js', 'PNG plots'));
  } catch (e) {
    // Without resvg the SVG is the picture; say once how to get PNGs too.
    if (!warnedNoPng) process.emitWarning(`${(e as Error).message}; writing SVG only`, { code: 'TORCHLOOP_NO_PNG' });
    warnedNoPng = true;
    return out;
  }
  const png = file.replace(/\.svg$/, '.png');
  writeFileSync(png, new Resvg(svg, { font: { loadSystemFonts: true } }).render().asPng());
  out.push(png);
  return out;
}
