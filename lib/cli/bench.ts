/**
 * `torchloop bench`: what a realtime step costs on this machine, from any project. A
 * TorchEntity steps the model from JavaScript and the C++ floor loops the same native step in
 * C++, rounds interleaved; the ratio is what the JavaScript side adds. Without --model it
 * measures two models built here: M1, the dg_pytorch PD controller on 12-vectors, and M2, an
 * MLP 48-256-256-12 (tanh) at batch 1. (A checkout's `npm run bench` adds PyTorch and
 * onnxruntime baselines.)
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { Model } from '../model.ts';
import { TorchEntity } from '../realtime/torch-entity.ts';
import { version } from '../runtime.ts';
import { nn } from '../train/nn.ts';

export interface BenchOptions {
  model?: string;
  /** Input shapes of --model, e.g. ['1x48']. */
  shapes?: string[];
  steps: number;
  rounds: number;
}

export interface BenchRow {
  model: string;
  path: string;
  entity: { p50: number; p99: number };
  floor: { p50: number; p99: number };
  /** Median over rounds of TorchEntity p50 / C++ floor p50. */
  ratio: number;
  gcs: number;
}

const PD = `def forward(self, kp: Tensor, kd: Tensor, position: Tensor, velocity: Tensor, des_position: Tensor, des_velocity: Tensor) -> Tensor:
    return kp * (des_position - position) + kd * (des_velocity - velocity)
`;

function quantile(a: Float64Array, q: number): number {
  const s = Float64Array.from(a).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

async function measure(name: string, model: Model, shapes: number[][], o: BenchOptions): Promise<BenchRow> {
  const entity = new TorchEntity(name);
  entity.loadModel(model);
  shapes.forEach((shape, i) => {
    entity.addInput(`in${i}`, { shape });
    const v = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let j = 0; j < v.length; j++) v[j] = Math.sin(j + i);
    entity.input(`in${i}`).value = v;
  });
  const out = entity.addOutput('out');
  entity.warmup();
  const floor = model.createStep('forward', shapes.map((shape) => ({ shape, dtype: 'float32' })), { plan: true });
  floor.inputs().forEach((t, i) => (t.data as Float32Array).set(entity.input(`in${i}`).value as Float32Array));
  floor.prepare();
  const chunk = Math.max(10, Math.floor(o.steps / o.rounds));
  const entityUs = new Float64Array(chunk * o.rounds), floorUs = new Float64Array(chunk * o.rounds);
  const trace = new Float64Array(chunk + 1);
  const ratios: number[] = [];
  // Collections that start while the JavaScript loop runs (entries arrive a task later).
  const gcStarts: number[] = [];
  const obs = new PerformanceObserver((l) => l.getEntries().forEach((e) => gcStarts.push(e.startTime)));
  obs.observe({ entryTypes: ['gc'] });
  let gcs = 0;
  let t = 1;
  for (let r = 0; r < o.rounds; r++) {
    const f = floorUs.subarray(r * chunk, (r + 1) * chunk);
    floor.loop(f);
    const step = entity.nativeStep;
    const from = performance.now();
    step.trace(trace);
    for (let i = 0; i <= chunk; i++) out.recompute(t++);
    step.trace(null);
    const to = performance.now();
    await new Promise((res) => setTimeout(res, 5));
    gcs += gcStarts.filter((s) => s >= from && s <= to).length;
    const e = entityUs.subarray(r * chunk, (r + 1) * chunk);
    for (let i = 0; i < chunk; i++) e[i] = (trace[i + 1] - trace[i]) * 1000;
    ratios.push(quantile(e, 0.5) / quantile(f, 0.5));
  }
  obs.disconnect();
  ratios.sort((a, b) => a - b);
  const row: BenchRow = {
    model: name,
    path: entity.planStatus,
    entity: { p50: quantile(entityUs, 0.5), p99: quantile(entityUs, 0.99) },
    floor: { p50: quantile(floorUs, 0.5), p99: quantile(floorUs, 0.99) },
    ratio: ratios[ratios.length >> 1],
    gcs,
  };
  floor.dispose();
  entity.dispose();
  return row;
}

export async function bench(o: BenchOptions): Promise<{ version: typeof version; rows: BenchRow[] }> {
  const rows: BenchRow[] = [];
  if (o.model) {
    const shapes = (o.shapes ?? []).map((s) => s.split('x').map(Number));
    using m = await Model.load(o.model);
    rows.push(await measure(o.model, m, shapes, o));
  } else {
    using pd = Model.compile(PD);
    rows.push(await measure('M1: PD controller, 12-vectors', pd, [[1], [1], [12], [12], [12], [12]], o));
    using mlp = nn.mlp([48, 256, 256, 12], { activation: 'tanh', seed: 0 });
    rows.push(await measure('M2: MLP 48-256-256-12 tanh, batch 1', mlp, [[1, 48]], { ...o, steps: Math.round(o.steps / 2) }));
  }
  return { version, rows };
}

export function formatBench(r: Awaited<ReturnType<typeof bench>>): string {
  const us = (v: number) => `${v.toFixed(v < 100 ? 2 : 0)} µs`.padStart(11);
  return [
    `torchloop ${r.version.torchloop}, libtorch ${r.version.libtorch} (${r.version.blas}, ${r.version.cpuCapability} kernels), ${r.version.threads} thread(s)`,
    `${'model'.padEnd(40)} ${'TorchEntity p50'.padStart(15)} ${'p99'.padStart(11)} ${'C++ floor p50'.padStart(15)} ${'p99'.padStart(11)}  entity/floor  GCs`,
    ...r.rows.map((x) => `${x.model.padEnd(40)} ${us(x.entity.p50).padStart(15)} ${us(x.entity.p99)} ${us(x.floor.p50).padStart(15)} ${us(x.floor.p99)}  ${x.ratio.toFixed(3).padStart(12)}  ${x.gcs}\n  path: ${x.path}`),
  ].join('\n');
}
