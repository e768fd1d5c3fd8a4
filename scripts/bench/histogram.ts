import { writeSvg } from '../../lib/learn/plots.ts';

/** One panel per model, one line per method: latency histograms on a log µs axis, as SVG (and PNG when resvg is installed). */
export function writeHistograms(
  file: string,
  panels: { title: string; series: { name: string; samples: Float64Array }[] }[],
): string[] {
  const W = 560, H = 300, pad = { l: 60, r: 20, t: 34, b: 44 };
  const colors = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#ad494a'];
  const bins = 80;
  const parts: string[] = [];
  panels.forEach((panel, pi) => {
    const all = panel.series.flatMap((s) => Array.from(s.samples));
    const sorted = Float64Array.from(all).sort();
    const lo = Math.max(0.1, sorted[0] * 0.9);
    const hi = sorted[Math.floor(sorted.length * 0.999)] * 1.2;
    const lx = (v: number) => (Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
    const x0 = pi * W;
    const hists = panel.series.map((s) => {
      const h = new Float64Array(bins);
      for (const v of s.samples) {
        const b = Math.floor(lx(v) * bins);
        if (b >= 0 && b < bins) h[b]++;
      }
      for (let i = 0; i < bins; i++) h[i] /= s.samples.length;
      return h;
    });
    const ymax = Math.max(...hists.flatMap((h) => Array.from(h))) * 1.1;
    const px = (f: number) => x0 + pad.l + f * (W - pad.l - pad.r);
    const py = (f: number) => pad.t + (1 - f / ymax) * (H - pad.t - pad.b);
    parts.push(`<text x="${x0 + W / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${panel.title}</text>`);
    parts.push(`<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(0)}" stroke="#333"/>`);
    for (let e = Math.floor(Math.log10(lo)); e <= Math.floor(Math.log10(hi)); e++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** e;
        if (v < lo || v > hi) continue;
        const x = px(lx(v));
        parts.push(`<line x1="${x}" y1="${py(0)}" x2="${x}" y2="${py(0) + 5}" stroke="#333"/>`);
        parts.push(`<text x="${x}" y="${py(0) + 18}" text-anchor="middle" font-size="11">${v >= 1000 ? `${v / 1000} ms` : `${v} µs`}</text>`);
      }
    }
    parts.push(`<text x="${x0 + W / 2}" y="${H - 6}" text-anchor="middle" font-size="12">latency per step (log scale)</text>`);
    parts.push(`<text x="${x0 + 16}" y="${H / 2}" font-size="12" transform="rotate(-90 ${x0 + 16} ${H / 2})" text-anchor="middle">fraction of steps</text>`);
    hists.forEach((h, si) => {
      const pts = Array.from(h, (v, i) => `${px((i + 0.5) / bins).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
      parts.push(`<polyline points="${pts}" fill="none" stroke="${colors[si % colors.length]}" stroke-width="1.8"/>`);
      parts.push(`<rect x="${x0 + W - 190}" y="${pad.t + 4 + si * 16}" width="12" height="3" fill="${colors[si % colors.length]}"/>`);
      parts.push(`<text x="${x0 + W - 172}" y="${pad.t + 9 + si * 16}" font-size="11">${panel.series[si].name}</text>`);
    });
  });
  return writeSvg(file, `<svg xmlns="http://www.w3.org/2000/svg" width="${W * panels.length}" height="${H}" font-family="DejaVu Sans, Arial, sans-serif"><rect width="100%" height="100%" fill="white"/>${parts.join('')}</svg>`);
}
