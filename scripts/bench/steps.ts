/**
 * Per-step latency on M1, M2 and M3, every path side by side in one run, rounds interleaved
 * so that machine noise hits all alike:
 *   - each addon build (libtorch 2.13 in build/, Debian's 1.13 in build-1.13/), in its own
 *     process (step-worker.ts): the C++ floor, the TorchEntity step, libtorch's interpreter;
 *   - the AOTInductor package of each model (setup's scripts/make_packages.py) as a
 *     TorchEntity on the libtorch 2.x build, and its C++ floor;
 *   - each PyTorch (2.13 from .torch/, 1.13 as /usr/bin/python3), in its own process
 *     (torch_worker.py): eager, torch.jit (frozen), torch.compile and aoti_load_package (2.x);
 *   - onnxruntime-node, here: `await session.run()` on the torch.onnx export.
 * Every path runs the same model file (saved by PyTorch 2.13) on the same inputs.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import * as ort from 'onnxruntime-node';
// @ts-expect-error: a plain .mjs module
import { BUILDS, addonOf } from '../builds.mjs';
import { median, summarize, type Summary } from './stats.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

export interface StepRow { model: string; who: string; path: string; summary: Summary; samples: Float64Array }
export interface Check { model: string; what: string; value: number; target: string; ok: boolean }
export interface StepReport { header: string[]; rows: StepRow[]; checks: Check[]; notes: Record<string, unknown> }

interface Spec { id: string; title: string; file: string; kind: 'pd' | 'mlp'; onnx: string; shapes: number[][]; steps: number }
export const SPECS: Spec[] = [
  { id: 'M1', title: 'M1: PD controller, 12-vectors', file: 'script_pd_controller.pt', kind: 'pd', onnx: 'm1.onnx', shapes: Array(6).fill([12]), steps: 100_000 },
  { id: 'M2', title: 'M2: MLP 48-256-256-12 tanh, batch 1', file: 'mlp_m2.pt', kind: 'mlp', onnx: 'm2.onnx', shapes: [[1, 48]], steps: 50_000 },
  { id: 'M3', title: 'M3: MLP 512-1024-1024-512 relu, batch 64', file: 'mlp_m3.pt', kind: 'mlp', onnx: 'm3.onnx', shapes: [[64, 512]], steps: 250 },
];

/** A child process answering one message at a time. */
class Worker {
  private queue: ((v: any) => void)[] = [];
  constructor(readonly name: string, private child: ChildProcess, send: 'ipc' | 'lines') {
    if (send === 'ipc') child.on('message', (m) => this.queue.shift()?.(m));
    else createInterface({ input: child.stdout! }).on('line', (l) => this.queue.shift()?.(JSON.parse(l)));
    child.on('exit', (code) => { for (const q of this.queue.splice(0)) q({ error: `${name} exited (${code})` }); });
  }
  ask<T = any>(msg: object): Promise<T> {
    return new Promise((resolve, reject) => {
      this.queue.push((r) => (r && r.error ? reject(new Error(`${this.name}: ${r.error}`)) : resolve(r)));
      if (this.child.send) this.child.send(msg);
      else this.child.stdin!.write(JSON.stringify(msg) + '\n');
    });
  }
  stop() { this.child.kill(); }
}

function randomData(n: number, seed: number): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff - 0.5;
  });
}

async function ortLoop(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, n: number): Promise<{ us: Float64Array; out: Float32Array }> {
  const us = new Float64Array(n);
  let last: ort.Tensor | undefined;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    last = (await session.run(feeds)).out;
    us[i] = (performance.now() - t0) * 1000;
  }
  return { us, out: last!.data as Float32Array };
}

export async function stepLatency(opts: { rounds: number; scale: number; models: string[]; compile: boolean }): Promise<StepReport> {
  const fixtures = path.join(root, BUILDS[0].fixtures);
  const header: string[] = [];
  const builds = BUILDS.filter((b: { dir: string }) => existsSync(addonOf(b)));
  const addons = builds.map((b: { torch: string; dir: string }) => new Worker(`libtorch ${b.torch}`, fork(path.join(import.meta.dirname, 'step-worker.ts'), [], {
    execArgv: ['--import', 'tsx', '--expose-gc'], env: { ...process.env, TORCHLOOP_ADDON: addonOf(b) }, serialization: 'advanced',
  }), 'ipc'));
  const pythons = builds.map((b: { python(): string; torch: string }) => new Worker(`PyTorch ${b.torch}`, spawn(b.python(), [path.join(import.meta.dirname, 'torch_worker.py')], {
    env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' }, stdio: ['pipe', 'pipe', 'inherit'],
  }), 'lines'));
  for (const a of addons) {
    const { version: v } = await a.ask({ cmd: 'info' });
    header.push(`${a.name}: ${v.libtorchPath} | BLAS ${v.blas} | ATen kernels ${v.cpuCapability} | threads ${v.threads}`);
  }
  for (const p of pythons) {
    const i = await p.ask({ cmd: 'info' });
    header.push(`PyTorch ${i.torch} (Python): BLAS ${i.blas} | ATen kernels ${i.cpu}`);
  }
  header.push(`onnxruntime-node ${(ort as unknown as { env: { versions: { common: string } } }).env.versions?.common ?? ''}: MLAS, 1 intra-op thread`);

  const rows: StepRow[] = [];
  const checks: Check[] = [];
  const notes: Record<string, unknown> = {};
  for (const spec of SPECS.filter((s) => opts.models.includes(s.id))) {
    const steps = Math.max(opts.rounds * 10, Math.round(spec.steps * opts.scale));
    const chunk = Math.floor(steps / opts.rounds);
    console.log(`\n${spec.title}: ${chunk * opts.rounds} steps per path, ${opts.rounds} interleaved rounds`);
    const inputs = spec.shapes.map((shape, i) => ({ shape, data: randomData(shape.reduce((a, b) => a * b, 1), 17 + i) }));
    const file = path.join(fixtures, spec.file);
    const pt2 = path.join(fixtures, 'pt2', `${spec.id.toLowerCase()}.pt2`);
    const packaged: Worker[] = [];
    const paths: Record<string, { who: string; path: string; samples: number[][] }> = {};
    const series = (key: string, who: string, p: string) => (paths[key] ??= { who, path: p, samples: [] });
    const note: Record<string, unknown> = {};

    for (const a of addons) {
      note[a.name] = await a.ask({ cmd: 'prepare', id: spec.id, file, inputs });
      if (!existsSync(pt2)) continue;
      try {
        note[`${a.name} .pt2`] = await a.ask({ cmd: 'prepare', id: `${spec.id}/pt2`, file: pt2, inputs });
        packaged.push(a);
      } catch (e) {
        note[`${a.name} .pt2`] = { error: (e as Error).message.slice(0, 200) };
      }
    }
    const pyVariants: [Worker, string][] = [];
    for (const p of pythons) {
      const r = await p.ask({ cmd: 'prepare', id: spec.id, file, kind: spec.kind, inputs, compile: opts.compile, pt2 });
      note[p.name] = r;
      for (const [v, status] of Object.entries(r.variants as Record<string, string>)) {
        if (status === 'ok' && (v !== 'compile' || opts.compile)) pyVariants.push([p, v]);
        else if (status !== 'ok') console.log(`  ${p.name} ${v}: ${status}`);
      }
    }
    const session = await ort.InferenceSession.create(path.join(fixtures, spec.onnx), {
      intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
    });
    const feeds: Record<string, ort.Tensor> = {};
    inputs.forEach((x, i) => (feeds[`in${i}`] = new ort.Tensor('float32', Float32Array.from(x.data), x.shape)));
    let ortOut = (await ortLoop(session, feeds, Math.min(200, chunk))).out;

    const ratios: Record<string, { p50: number[]; p99: number[]; gcs: number }> = {};
    for (let r = 0; r < opts.rounds; r++) {
      for (const a of addons) {
        const got = await a.ask<{ floor: Float64Array; entity: Float64Array; interp: Float64Array; gcsWhileStepping: number }>({ cmd: 'round', id: spec.id, n: chunk });
        series(`${a.name}/floor`, a.name, 'C++ floor (plan)').samples.push(Array.from(got.floor));
        series(`${a.name}/entity`, a.name, 'TorchEntity step').samples.push(Array.from(got.entity));
        series(`${a.name}/interp`, a.name, 'interpreter (C++ loop)').samples.push(Array.from(got.interp));
        const rr = (ratios[a.name] ??= { p50: [], p99: [], gcs: 0 });
        const e = summarize(got.entity), f = summarize(got.floor);
        rr.p50.push(e.p50 / f.p50);
        rr.p99.push(e.p99 / f.p99);
        rr.gcs += got.gcsWhileStepping;
      }
      for (const a of packaged) {
        const got = await a.ask<{ floor: Float64Array; entity: Float64Array; gcsWhileStepping: number }>({ cmd: 'round', id: `${spec.id}/pt2`, n: chunk });
        series(`${a.name}/pt2-floor`, a.name, 'C++ floor (.pt2)').samples.push(Array.from(got.floor));
        series(`${a.name}/pt2-entity`, a.name, 'TorchEntity step (.pt2)').samples.push(Array.from(got.entity));
        (ratios[`${a.name} .pt2`] ??= { p50: [], p99: [], gcs: 0 }).gcs += got.gcsWhileStepping;
      }
      for (const [p, v] of pyVariants) {
        const label = v === 'jit' ? 'torch.jit (frozen)' : v === 'compile' ? 'torch.compile' : v === 'aoti' ? 'aoti_load_package' : 'eager';
        series(`${p.name}/${v}`, p.name, label).samples.push((await p.ask({ cmd: 'round', id: spec.id, variant: v, n: chunk })).us);
      }
      const o = await ortLoop(session, feeds, chunk);
      ortOut = o.out;
      series('ort', 'onnxruntime-node', 'session.run()').samples.push(Array.from(o.us));
    }

    // Agreement on the same inputs: every addon build against onnxruntime and PyTorch 2.13.
    const reference = (await pythons[0].ask({ cmd: 'output', id: spec.id, variant: 'jit' })).data as number[];
    const diffs: Record<string, number> = { 'onnxruntime-node': maxDiff(ortOut, reference) };
    for (const a of addons) diffs[a.name] = maxDiff((await a.ask({ cmd: 'output', id: spec.id })).data, reference);
    for (const a of packaged) diffs[`${a.name} .pt2`] = maxDiff((await a.ask({ cmd: 'output', id: `${spec.id}/pt2` })).data, reference);
    note.maxAbsDiffVsPyTorch = diffs;
    for (const a of addons) await a.ask({ cmd: 'dispose', id: spec.id });
    for (const a of packaged) await a.ask({ cmd: 'dispose', id: `${spec.id}/pt2` });
    await session.release?.();

    for (const s of Object.values(paths)) {
      const all = Float64Array.from(s.samples.flat());
      rows.push({ model: spec.id, who: s.who, path: s.path, summary: summarize(all), samples: all });
    }
    const p50 = (who: string, p: string) => rows.find((x) => x.model === spec.id && x.who === who && x.path.startsWith(p))?.summary.p50 ?? NaN;
    const ortP50 = p50('onnxruntime-node', 'session');
    for (const a of addons) {
      const rr = ratios[a.name];
      (note[a.name] as Record<string, unknown>).roundRatiosP50 = rr.p50;
      checks.push({ model: spec.id, what: `${a.name}: TorchEntity p50 / C++ floor p50 (median of rounds)`, value: median(rr.p50), target: '<= 1.05', ok: median(rr.p50) <= 1.05 });
      checks.push({ model: spec.id, what: `${a.name}: GCs while stepping`, value: rr.gcs, target: '0', ok: rr.gcs === 0 });
      const ent = p50(a.name, 'TorchEntity');
      if (spec.id === 'M3') {
        checks.push({ model: spec.id, what: `${a.name}: TorchEntity p50 / onnxruntime-node p50`, value: ent / ortP50, target: '<= 1.0', ok: ent <= ortP50 });
      } else {
        const pyBest = Math.min(...pyVariants.filter(([, v]) => v !== 'aoti').map(([p, v]) => p50(p.name, v === 'jit' ? 'torch.jit' : v === 'compile' ? 'torch.compile' : 'eager')));
        checks.push({ model: spec.id, what: `${a.name}: TorchEntity p50 / fastest Python baseline p50`, value: ent / pyBest, target: '< 1.0', ok: ent < pyBest });
        checks.push({ model: spec.id, what: `${a.name}: TorchEntity p50 / onnxruntime-node p50`, value: ent / ortP50, target: '< 1.0', ok: ent < ortP50 });
      }
    }
    for (const a of packaged) {
      const ent = p50(a.name, 'TorchEntity step (.pt2)');
      const jit = p50(`PyTorch ${BUILDS[0].torch}`, 'torch.jit');
      const aoti = p50(`PyTorch ${BUILDS[0].torch}`, 'aoti_load_package');
      checks.push({ model: spec.id, what: `${a.name}: .pt2 TorchEntity p50 / PyTorch ${BUILDS[0].torch} torch.jit (frozen) p50`, value: ent / jit, target: '<= 0.5', ok: ent / jit <= 0.5 });
      checks.push({ model: spec.id, what: `${a.name}: .pt2 TorchEntity p50 / PyTorch ${BUILDS[0].torch} aoti_load_package p50`, value: ent / aoti, target: '< 1.0', ok: ent < aoti });
      checks.push({ model: spec.id, what: `${a.name}: .pt2 TorchEntity p50 / onnxruntime-node p50`, value: ent / ortP50, target: spec.id === 'M3' ? '<= 1.0' : '< 1.0', ok: spec.id === 'M3' ? ent <= ortP50 : ent < ortP50 });
      checks.push({ model: spec.id, what: `${a.name}: .pt2 GCs while stepping`, value: ratios[`${a.name} .pt2`].gcs, target: '0', ok: ratios[`${a.name} .pt2`].gcs === 0 });
      if (spec.id === 'M2') checks.push({ model: spec.id, what: `${a.name}: .pt2 TorchEntity p50 (µs)`, value: ent, target: '<= 5', ok: ent <= 5 });
    }
    console.log(`  paths: ${addons.map((a) => `${a.name} ${(note[a.name] as { path: string }).path}`).join('; ')}; max |diff| vs PyTorch 2.13: ${Object.entries(diffs).map(([k, v]) => `${k} ${v.toExponential(1)}`).join(', ')}`);
    notes[spec.id] = note;
  }
  for (const w of [...addons, ...pythons]) w.stop();
  return { header, rows, checks, notes };
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return a.length === b.length ? d : Infinity;
}
