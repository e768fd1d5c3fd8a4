/**
 * The zoo table of `npm run bench`: every model in ../shared/real-models as a TorchEntity on
 * each addon build (zoo-worker.ts: the path the runner chose, entity p50/p99, the C++ floor,
 * GCs), against PyTorch 2.13 and 1.13 running the same file (zoo_worker.py: torch.jit, frozen
 * where freezing works) and onnxruntime-node where torch.onnx exports the model. Same inputs
 * everywhere (the records scripts/zoo_golden.py wrote with PyTorch 2.13).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
// @ts-expect-error: a plain .mjs module
import { BUILDS, addonOf } from '../builds.mjs';
import { summarize, type Summary } from './stats.ts';
import type { Check } from './steps.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

export interface ZooRow {
  file: string;
  /** Per addon build: path, floor, entity, gcs. */
  builds: Record<string, { path: string; floor: Summary; entity: Summary; gcs: number }>;
  /** Per PyTorch: variant, p50, p99 (µs). */
  python: Record<string, { variant: string; p50: number; p99: number } | { error: string }>;
  ort: { p50: number; p99: number } | { error: string };
}

/** The MLP-style policies the issue holds to 0.5x of torch.jit; the rest to 0.8x. */
const MLP_STYLE = /go2_motion|adaptation_module|actuator_net|XBot|RLonSpot/;

export async function zooBench(opts: { quick: boolean }): Promise<{ rows: ZooRow[]; checks: Check[] } | null> {
  const fixtures = path.join(root, BUILDS[0].fixtures);
  const done = path.join(fixtures, 'zoo', '.done');
  if (!existsSync(done)) {
    console.log('  no zoo on this machine (../shared/real-models or TORCHLOOP_ZOO): skipped');
    return null;
  }
  const { readFileSync, readdirSync } = await import('node:fs');
  const models = readFileSync(done, 'utf8').trim();
  const records = readdirSync(path.join(fixtures, 'zoo')).filter((f) => f.endsWith('.json')).sort()
    .map((f) => ({ json: path.join(fixtures, 'zoo', f), ...JSON.parse(readFileSync(path.join(fixtures, 'zoo', f), 'utf8')) }))
    .filter((r) => !r.error);
  const targetMs = opts.quick ? 300 : 1500;
  const rows = new Map<string, ZooRow>(records.map((r) => [r.file, { file: r.file, builds: {}, python: {}, ort: { error: 'not exported' } }]));

  for (const b of BUILDS.filter((x: { dir: string }) => existsSync(addonOf(x)))) {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--expose-gc', path.join(import.meta.dirname, 'zoo-worker.ts'), String(targetMs)], {
      encoding: 'utf8', maxBuffer: 1 << 26, env: { ...process.env, TORCHLOOP_ADDON: addonOf(b), TORCHLOOP_FIXTURES: fixtures }, stdio: ['ignore', 'pipe', 'ignore'],
    });
    for (const x of JSON.parse(out.trim().split('\n').pop()!)) rows.get(x.file)!.builds[`libtorch ${b.torch}${x.package ? ' .pt2' : ''}`] = x;
  }
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tl-zoo-onnx-'));
  for (const r of records) {
    const row = rows.get(r.file)!;
    for (const b of BUILDS) {
      const steps = Math.max(200, Math.round((targetMs * 1000) / Math.max(1, row.builds[`libtorch ${b.torch}`]?.entity.p50 ?? row.builds[Object.keys(row.builds)[0]]?.entity.p50 ?? 1000)));
      try {
        const out = execFileSync(b.python(), [path.join(import.meta.dirname, 'zoo_worker.py'), 'time', r.json, models, String(steps)], {
          encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'ignore'],
        });
        row.python[`PyTorch ${b.torch}`] = JSON.parse(out.trim().split('\n').pop()!);
      } catch (e) {
        row.python[`PyTorch ${b.torch}`] = { error: String((e as Error).message).split('\n')[0].slice(0, 120) };
      }
    }
    // PyTorch's own runner of the same package (aoti_load_package).
    const pt2 = path.join(fixtures, 'pt2', `${r.file}.pt2`);
    if (existsSync(pt2)) {
      const steps = Math.max(200, Math.round((targetMs * 1000) / Math.max(1, row.builds[`libtorch ${BUILDS[0].torch} .pt2`]?.entity.p50 ?? 1000)));
      try {
        const out = execFileSync(BUILDS[0].python(), [path.join(import.meta.dirname, 'zoo_worker.py'), 'aoti', r.json, pt2, String(steps)], {
          encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'ignore'],
        });
        row.python[`PyTorch ${BUILDS[0].torch} aoti`] = JSON.parse(out.trim().split('\n').pop()!);
      } catch (e) {
        row.python[`PyTorch ${BUILDS[0].torch} aoti`] = { error: String((e as Error).message).split('\n')[0].slice(0, 120) };
      }
    }
    // onnxruntime-node on the torch.onnx export (PyTorch 2.13's TorchScript exporter, else 1.13's).
    const file = path.join(tmp, `${path.basename(r.file)}.onnx`);
    let why = '';
    for (const b of BUILDS) {
      try {
        const res = JSON.parse(execFileSync(b.python(), [path.join(import.meta.dirname, 'zoo_worker.py'), 'onnx', r.json, models, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop()!);
        if (res.ok) { why = ''; break; }
        why = `${b.torch}: ${res.why}`;
      } catch (e) {
        why = `${b.torch}: ${String((e as Error).message).split('\n')[0].slice(0, 120)}`;
      }
    }
    if (why || !existsSync(file)) {
      row.ort = { error: `torch.onnx: ${why}` };
      continue;
    }
    try {
      const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
      const tensors = r.calls[0].args.flatMap(function leaves(v: any): any[] {
        if (v && v.tensor) return [v.tensor];
        if (v && v.tuple) return v.tuple.flatMap(leaves);
        if (v && v.dict) return Object.values(v.dict).flatMap(leaves);
        return [];
      });
      const feeds: Record<string, ort.Tensor> = {};
      if (session.inputNames.length !== tensors.length) {
        throw new Error(`the export takes ${session.inputNames.length} inputs (${session.inputNames.join(', ')}), the model's call ${tensors.length} tensors`);
      }
      session.inputNames.forEach((name, i) => {
        const t = tensors[i];
        feeds[name] = t.dtype === 'int64'
          ? new ort.Tensor('int64', BigInt64Array.from(t.data.map((x: number) => BigInt(x))), t.shape)
          : new ort.Tensor('float32', Float32Array.from(t.data.map((x: number | null) => x ?? NaN)), t.shape);
      });
      const n = Math.max(200, Math.round((targetMs * 1000) / Math.max(1, Object.values(row.builds)[0]?.entity.p50 ?? 1000)));
      for (let i = 0; i < 100; i++) await session.run(feeds);
      const us = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await session.run(feeds);
        us[i] = (performance.now() - t0) * 1000;
      }
      const s = summarize(us);
      row.ort = { p50: s.p50, p99: s.p99 };
      await session.release?.();
    } catch (e) {
      row.ort = { error: `onnxruntime: ${String((e as Error).message).split('\n')[0].slice(0, 120)}` };
    }
  }

  const checks: Check[] = [];
  const bestOverJit: number[] = [];
  for (const row of rows.values()) {
    // The fastest torchloop path on the main build: the .pt step, or the .pt2 package's.
    const mains = [row.builds[`libtorch ${BUILDS[0].torch}`], row.builds[`libtorch ${BUILDS[0].torch} .pt2`]].filter(Boolean);
    const best = Math.min(...mains.map((b) => b.entity.p50));
    const jit0 = row.python[`PyTorch ${BUILDS[0].torch}`];
    if (mains.length && jit0 && 'p50' in jit0) bestOverJit.push(best / jit0.p50);
    if (mains.length && 'p50' in row.ort) {
      checks.push({ model: short(row.file), what: `fastest TorchEntity path (${mains.length > 1 ? '.pt or .pt2' : '.pt'}) p50 / onnxruntime-node p50`, value: best / row.ort.p50, target: '<= 1.0', ok: best <= row.ort.p50 });
    }
    const jit = row.python[`PyTorch ${BUILDS[0].torch}`];
    for (const [who, b] of Object.entries(row.builds)) {
      checks.push({ model: short(row.file), what: `${who}: GCs while stepping`, value: b.gcs, target: '0', ok: b.gcs === 0 });
    }
    const main = row.builds[`libtorch ${BUILDS[0].torch}`];
    if (main && jit && 'p50' in jit) {
      const limit = MLP_STYLE.test(row.file) ? 0.5 : 0.8;
      const v = main.entity.p50 / jit.p50;
      checks.push({ model: short(row.file), what: `TorchEntity p50 / PyTorch ${BUILDS[0].torch} ${jit.variant} p50`, value: v, target: `<= ${limit}`, ok: v <= limit });
    }
  }
  if (bestOverJit.length) {
    const sorted = [...bestOverJit].sort((a, b) => a - b);
    const med = sorted[sorted.length >> 1];
    checks.push({ model: 'zoo', what: `median over the zoo of the fastest TorchEntity path p50 / PyTorch ${BUILDS[0].torch} torch.jit p50`, value: med, target: '<= 0.5', ok: med <= 0.5 });
  }
  return { rows: [...rows.values()], checks };
}

export const short = (file: string) => file.replace(/^[^_]+__/, '').replace(/\.(pt|jit|pth)$/, '');

export function printZoo(rows: ZooRow[]): void {
  const us = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '—' : v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`);
  const builds = [...new Set(rows.flatMap((r) => Object.keys(r.builds)))];
  const pythons = [...new Set(rows.flatMap((r) => Object.keys(r.python)))];
  console.log(`\nzoo: each model as a TorchEntity (p50 / p99), the C++ floor (p50), PyTorch torch.jit (p50), onnxruntime-node (p50); one thread`);
  for (const r of rows) {
    console.log(`  ${short(r.file)}`);
    for (const b of builds) {
      const x = r.builds[b];
      if (x) console.log(`    ${b.padEnd(16)} entity ${us(x.entity.p50)} / ${us(x.entity.p99)}, floor ${us(x.floor.p50)}, GCs ${x.gcs}: ${x.path}`);
    }
    for (const p of pythons) {
      const x = r.python[p];
      console.log(`    ${p.padEnd(16)} ${x && 'p50' in x ? `${us(x.p50)} / ${us(x.p99)} (${x.variant})` : `— (${x?.error ?? 'not run'})`}`);
    }
    console.log(`    ${'onnxruntime'.padEnd(16)} ${'p50' in r.ort ? `${us(r.ort.p50)} / ${us(r.ort.p99)}` : `— (${r.ort.error})`}`);
  }
}
