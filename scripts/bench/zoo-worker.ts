/**
 * One addon build's side of the zoo bench (zoo.ts), in its own process: every zoo model as a
 * TorchEntity built as the tests build it (test/helpers/zoo.ts), warmed up, then the C++
 * floor (the entity's own native step looped in C++) and the TorchEntity step from JS (timed
 * entry to entry by the step's trace), and GCs while stepping. Prints one JSON array.
 *   node --import tsx zoo-worker.ts <target ms per path>
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { Model, version } from '../../lib/index.ts';
import { FIXTURES } from '../../test/helpers/fixtures.ts';
import { zooEntity, zooRecords, type ZooRecord } from '../../test/helpers/zoo.ts';
import { summarize } from './stats.ts';

const targetMs = Number(process.argv[2] ?? 1500);
// GC start times: those inside a loop count (V8's memory reducer may run one on a timer once
// the loop yields, collecting what loading and warmup left; that is not the loop's doing).
const gcTimes: number[] = [];
new PerformanceObserver((list) => { for (const e of list.getEntries()) gcTimes.push(e.startTime); }).observe({ entryTypes: ['gc'] });
const rows = [];
// Each model's TorchScript file, then (libtorch 2.x) the AOTInductor package setup compiled from it.
const runs: { r: ZooRecord; pt2?: string }[] = [];
for (const r of zooRecords()) {
  if (r.error) continue;
  runs.push({ r });
  const pt2 = path.join(FIXTURES, 'pt2', `${r.file}.pt2`);
  if (version.libtorch.startsWith('2') && existsSync(pt2)) runs.push({ r, pt2 });
}
for (const { r, pt2 } of runs) {
  const z = zooEntity(r, pt2 ? Model.loadSync(pt2) : undefined);
  const warm = z.entity.warmup();
  const n = Math.max(200, Math.min(100_000, Math.round(targetMs / Math.max(warm.settledMs, 1e-3))));
  const step = z.entity.nativeStep;
  const floor = new Float64Array(n);
  step.loop(floor);
  const out = z.outputs[0].signal;
  const trace = new Float64Array(n + 1);
  let tick = 1;
  const t0 = performance.now();
  step.trace(trace);
  for (let i = 0; i <= n; i++) out.recompute(tick++);
  step.trace(null);
  const t1 = performance.now();
  const entity = new Float64Array(n);
  for (let i = 0; i < n; i++) entity[i] = (trace[i + 1] - trace[i]) * 1000;
  await new Promise((res) => setTimeout(res, 5));
  rows.push({ file: r.file, package: !!pt2, libtorch: version.libtorch, path: z.entity.planStatus, n, floor: summarize(floor), entity: summarize(entity), gcs: gcTimes.filter((t) => t >= t0 && t <= t1).length });
  z.entity.dispose();
}
console.log(JSON.stringify(rows));
