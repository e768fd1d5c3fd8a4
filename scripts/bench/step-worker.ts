/**
 * One addon build's side of the step bench, in its own process (a process can load one
 * libtorch): run by scripts/bench/steps.ts with TORCHLOOP_ADDON set, driven over IPC round by
 * round so that both builds, PyTorch and onnxruntime interleave.
 *
 * Messages: { cmd: 'info' } | { cmd: 'prepare', id, file, inputs } | { cmd: 'round', id, n }
 *           | { cmd: 'output', id } | { cmd: 'dispose', id }.
 * A round runs n steps of each path: the C++ floor (the entity's own native step looped in
 * C++), the TorchEntity from JS (timed entry to entry by the step's trace), and libtorch's
 * interpreter looped in C++.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { TorchEntity, version, type NativeStepHandle, type OutputSignal } from '../../lib/index.ts';

interface Prepared {
  entity: TorchEntity;
  out: OutputSignal;
  floor: NativeStepHandle;
  interp: NativeStepHandle;
  trace: Float64Array;
  tick: number;
}
const prepared = new Map<string, Prepared>();
let gcs = 0;
new PerformanceObserver((list) => (gcs += list.getEntries().length)).observe({ entryTypes: ['gc'] });

function prepare(id: string, file: string, inputs: { shape: number[]; data: number[] }[]) {
  const entity = new TorchEntity(id);
  entity.loadModel(file);
  inputs.forEach((x, i) => {
    entity.addInput(`in${i}`, { shape: x.shape });
    entity.signal(`in${i}`).value = Float32Array.from(x.data);
  });
  const out = entity.addOutput('out');
  const warm = entity.warmup();
  const specs = inputs.map((x) => ({ shape: x.shape, dtype: 'float32' }));
  const floor = entity.model.createStep('forward', specs, { plan: true });
  const interp = entity.model.createStep('forward', specs, { plan: false });
  for (const st of [floor, interp]) {
    st.inputs().forEach((t, i) => (t.data as Float32Array).set(inputs[i].data));
    st.prepare();
    st.loop(new Float64Array(200));
  }
  prepared.set(id, { entity, out, floor, interp, trace: new Float64Array(1), tick: 1 });
  return { path: entity.planStatus, floorPath: floor.planStatus(), interpreterPath: interp.planStatus(), warmupRuns: warm.runs };
}

async function round(id: string, n: number) {
  const p = prepared.get(id)!;
  const floor = new Float64Array(n), entity = new Float64Array(n), interp = new Float64Array(n);
  if (p.trace.length !== n + 1) p.trace = new Float64Array(n + 1);
  p.floor.loop(floor);
  const before = gcs;
  const step = p.entity.nativeStep;
  step.trace(p.trace);
  for (let i = 0; i <= n; i++) p.out.recompute(p.tick++);
  step.trace(null);
  for (let i = 0; i < n; i++) entity[i] = (p.trace[i + 1] - p.trace[i]) * 1000;
  await new Promise((r) => setTimeout(r, 5));  // GC entries reach the observer in a later task
  const gcsWhileStepping = gcs - before;
  p.interp.loop(interp);
  return { floor, entity, interp, gcsWhileStepping };
}

process.on('message', async (msg: { cmd: string; id: string; file: string; inputs: { shape: number[]; data: number[] }[]; n: number }) => {
  let reply: unknown;
  try {
    switch (msg.cmd) {
      case 'info': reply = { version }; break;
      case 'prepare': reply = prepare(msg.id, msg.file, msg.inputs); break;
      case 'round': reply = await round(msg.id, msg.n); break;
      case 'output': reply = { data: Array.from(prepared.get(msg.id)!.out.value as Float32Array) }; break;
      case 'dispose': {
        const p = prepared.get(msg.id)!;
        p.floor.dispose(); p.interp.dispose(); p.entity.dispose();
        prepared.delete(msg.id);
        reply = {};
        break;
      }
      default: reply = { error: `unknown command ${msg.cmd}` };
    }
  } catch (e) {
    reply = { error: (e as Error).message };
  }
  process.send!(reply);
});
