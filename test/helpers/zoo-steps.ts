// Run by test/models/zoo.test.ts (and scripts/bench) in a plain node child: every zoo model as a
// TorchEntity, warmed up, then stepped N times with an input written before each step and the
// outputs read; counts V8 GCs per model. Prints one JSON array.
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { zooEntity, zooRecords } from './zoo.ts';

const steps = Number(process.argv[2] ?? 2000);
const only = process.argv[3]; // a part of a file name: that model alone
const rows = [];
for (const r of zooRecords()) {
  if (r.error || (only && !r.file.includes(only))) continue;
  const z = zooEntity(r);
  z.entity.warmup({ minRuns: 5, maxRuns: 50 });
  const first = z.inputs.find((s) => s.dtype !== 'int64');
  const x = first ? first.value : null;
  const outs = z.outputs.map((o) => o.signal);
  let tick = 0;
  const acc = new Float64Array(1); // a captured `let` double would box a number per step
  const loop = (n: number) => {
    for (let i = 0; i < n; i++) {
      if (x) x[0] = (i & 7) * 0.01; // an input changes every step, in place
      for (let k = 0; k < outs.length; k++) outs[k].recompute(tick);
      acc[0] += outs[0].value[0];
      tick++;
    }
  };
  loop(200);
  (globalThis as { gc?: () => void }).gc?.();
  let gcs = 0;
  const kinds: number[] = [];
  // GCs that start during the loop; V8's memory reducer may run one on a timer once the loop
  // yields (collecting what loading and warmup left), which is not the loop's doing.
  let loopEnd = Number.POSITIVE_INFINITY, later = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.startTime > loopEnd) {
        later++;
        continue;
      }
      gcs++;
      kinds.push((e as unknown as { detail: { kind: number } }).detail?.kind);
    }
  });
  const heap = process.memoryUsage();
  obs.observe({ entryTypes: ['gc'] });
  loop(steps);
  loopEnd = performance.now();
  await new Promise((res) => setTimeout(res, 20));
  obs.disconnect();
  const after = process.memoryUsage();
  rows.push({ file: r.file, steps, gcs, kinds, gcsAfterLoop: later, heapGrowth: after.heapUsed - heap.heapUsed, external: after.external - heap.external, path: z.entity.planStatus, finite: Number.isFinite(acc[0]) });
  z.entity.dispose();
}
console.log(JSON.stringify(rows));
