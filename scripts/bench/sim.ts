/**
 * The "sim" section of `npm run bench`: the H1 sim2sim loop in Node (MuJoCo's WASM build +
 * torchloop's TorchEntity) against the authors' Python deploy loop (pip mujoco 3.14 +
 * torch.jit 2.13, scripts/sim2sim_reference.py --timing), rounds interleaved on the same
 * machine; and `mj_step` alone (the H1 under PD holding its default angles) in WASM, through
 * the Python bindings, and in MuJoCo's own C library (the native floor, mjstep_floor.c built
 * against the pip wheel's libmujoco.so.3.14.0).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildSim2Sim, haveRobots, loadMjcf, readDeployConfig, robotsRoot } from '../../lib/index.ts';
import { median, summarize, type Summary } from './stats.ts';
import type { Check } from './steps.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

export interface SimRow { what: string; node: Summary; python: Summary; native?: Summary; ratio: number }

export async function simBench(options: { quick: boolean; python: string }) {
  if (!haveRobots()) {
    console.log('  skipped: no robot files (torchloop robots fetch)');
    return null;
  }
  const robots = robotsRoot();
  const cfg = readDeployConfig('h1.yaml', robots);
  const seconds = options.quick ? 4 : 10;
  const rounds = options.quick ? 2 : 3;
  const tmp = mkdtempSync(path.join(tmpdir(), 'torchloop-bench-sim-'));
  const node = { tick: [] as number[], physics: [] as number[], policy: [] as number[], rtf: [] as number[] };
  let pyThreads = 0;
  const py = { tick: [] as number[], step: [] as number[], policy: [] as number[], rtf: [] as number[] };
  try {
    for (let r = 0; r < rounds; r++) {
      // Node: the same code as `torchloop sim2sim` (fast mode), each tick timed.
      const s = await buildSim2Sim({ config: 'h1.yaml', root: robots });
      const ticks = Math.round(seconds / (cfg.simulationDt * cfg.controlDecimation));
      const t0 = performance.now();
      for (let t = 0; t < ticks; t++) {
        const a = performance.now();
        s.tick(t);
        node.tick.push((performance.now() - a) * 1000);
        node.physics.push(s.lastPhysicsMs * 1000);
        node.policy.push(s.policy.lastRunDurationMs * 1000);
      }
      node.rtf.push(seconds / ((performance.now() - t0) / 1000));
      s.dispose();
      // Python: the authors' loop, headless, timed from outside the script.
      const out = path.join(tmp, `py-${r}.json`);
      execFileSync(options.python, [path.join(root, 'scripts', 'sim2sim_reference.py'), robots, 'h1.yaml', String(seconds), out, '--timing'], { stdio: 'pipe' });
      const rec = JSON.parse(readFileSync(out, 'utf8')) as { tick_us: number[]; step_us: number[]; policy_us: number[]; versions: { threads: number } };
      pyThreads = rec.versions.threads;
      py.tick.push(...rec.tick_us);
      py.step.push(...rec.step_us);
      py.policy.push(...rec.policy_us);
      py.rtf.push(seconds / (rec.tick_us.reduce((a, b) => a + b, 0) / 1e6));
    }
    const steps = await mjStep(cfg, options);
    const S = (a: number[]) => summarize(a);
    const rows: SimRow[] = [
      { what: 'policy tick (10 physics steps, PD, obs, policy)', node: S(node.tick), python: S(py.tick), ratio: 0 },
      { what: 'policy step alone (TorchEntity vs torch.jit)', node: S(node.policy), python: S(py.policy), ratio: 0 },
      { what: 'physics per tick (10 x PD + mj_step)', node: S(node.physics), python: summarize(tenSums(py.step)), ratio: 0 },
      { what: 'mj_step alone, H1 under PD (WASM vs Python; C floor)', node: steps.wasm, python: steps.python, native: steps.native, ratio: 0 },
    ];
    for (const r of rows) r.ratio = r.node.p50 / r.python.p50;
    const rtf = { node: median(node.rtf), python: median(py.rtf) };
    const checks: Check[] = [
      { model: 'H1 sim2sim', what: 'policy tick p50, Node / Python deploy loop', value: rows[0].ratio, target: '<= 1.0', ok: rows[0].ratio <= 1.0 },
      { model: 'H1 sim2sim', what: 'policy step p50, TorchEntity / torch.jit', value: rows[1].ratio, target: '<= 1.0', ok: rows[1].ratio <= 1.0 },
      { model: 'H1 sim2sim', what: 'realtime factor, Node (simulated s per wall s)', value: rtf.node, target: '>= 10', ok: rtf.node >= 10 },
    ];
    const { version } = await import('../../lib/index.ts');
    return { rows, rtf, checks, seconds, rounds, threads: { node: version.threads, python: pyThreads }, wasmShare: median(node.physics) / median(node.tick) };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** mj_step alone: the H1 scene under PD holding the default angles, 2000 steps after 200. */
async function mjStep(cfg: ReturnType<typeof readDeployConfig>, options: { python: string }) {
  const steps = 2000, warmup = 200;
  const args = [cfg.xmlPath, String(steps), String(warmup), cfg.kps.join(','), cfg.kds.join(','), cfg.defaultAngles.join(',')];
  const { mj, model } = await loadMjcf(cfg.xmlPath);
  const d = new mj.MjData(model);
  const trn = model.actuator_trnid as Int32Array, qadr = model.jnt_qposadr as Int32Array, vadr = model.jnt_dofadr as Int32Array;
  const jq = Array.from({ length: model.nu }, (_, i) => qadr[trn[2 * i]]), jv = Array.from({ length: model.nu }, (_, i) => vadr[trn[2 * i]]);
  const wasm: number[] = [];
  let qpos = d.qpos as Float64Array, qvel = d.qvel as Float64Array, ctrl = d.ctrl as Float64Array;
  for (let s = 0; s < warmup + steps; s++) {
    if (qpos.length === 0) [qpos, qvel, ctrl] = [d.qpos, d.qvel, d.ctrl];
    for (let i = 0; i < model.nu; i++) ctrl[i] = (cfg.defaultAngles[i] - qpos[jq[i]]) * cfg.kps[i] - qvel[jv[i]] * cfg.kds[i];
    const t0 = performance.now();
    mj.mj_step(model, d);
    const t1 = performance.now();
    if (s >= warmup) wasm.push((t1 - t0) * 1000);
  }
  const z = (d.qpos as Float64Array)[2];
  d.delete();
  model.delete();
  const python = JSON.parse(execFileSync(options.python, [path.join(root, 'scripts', 'bench', 'mjstep.py'), ...args], { encoding: 'utf8' })) as { step_us: number[]; z: number };
  let native: Summary | undefined;
  const floor = buildFloor(options.python);
  if (floor) {
    const r = JSON.parse(execFileSync(floor, args, { encoding: 'utf8' })) as { step_us: number[]; z: number };
    native = summarize(r.step_us);
    if (Math.abs(r.z - z) > 1e-6) console.log(`  note: the C floor ended at z=${r.z}, WASM at z=${z}`);
  }
  if (Math.abs(python.z - z) > 1e-6) console.log(`  note: Python ended at z=${python.z}, WASM at z=${z}`);
  return { wasm: summarize(wasm), python: summarize(python.step_us), native };
}

/** Builds mjstep_floor.c against the pip wheel's libmujoco (once; null when that cannot be done). */
function buildFloor(python: string): string | null {
  const out = path.join(root, 'build', 'bench', 'mjstep_floor');
  const src = path.join(root, 'scripts', 'bench', 'mjstep_floor.c');
  try {
    const dir = execFileSync(python, ['-c', 'import mujoco, os; print(os.path.dirname(mujoco.__file__))'], { encoding: 'utf8' }).trim();
    const lib = path.join(dir, 'libmujoco.so.3.14.0');
    if (!existsSync(lib)) return null;
    if (!existsSync(out)) {
      mkdirSync(path.dirname(out), { recursive: true });
      execFileSync('gcc', ['-O2', '-o', out, src, `-I${path.join(dir, 'include')}`, lib, `-Wl,-rpath,${dir}`], { stdio: 'pipe' });
    }
    return out;
  } catch (e) {
    console.log(`  note: no native mj_step floor (${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

function tenSums(a: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i + 10 <= a.length; i += 10) out.push(a.slice(i, i + 10).reduce((x, y) => x + y, 0));
  return out;
}

export function printSim(r: NonNullable<Awaited<ReturnType<typeof simBench>>>): void {
  const f = (v: number) => (v >= 1000 ? `${(v / 1000).toFixed(2)} ms` : `${v.toFixed(1)} µs`).padStart(10);
  console.log(`\nsim: H1 sim2sim, ${r.rounds} interleaved rounds of ${r.seconds} s simulated each; Node (MuJoCo WASM + TorchEntity) against Python (pip mujoco 3.14 + torch.jit 2.13); torch threads: Node ${r.threads.node}, Python ${r.threads.python} (each its default)`);
  console.log(`  ${'what'.padEnd(54)} ${'Node p50'.padStart(10)} ${'Node p99'.padStart(10)}  ${'Py p50'.padStart(10)} ${'Py p99'.padStart(10)}  ${'C p50'.padStart(10)}  Node/Py p50`);
  for (const x of r.rows) console.log(`  ${x.what.padEnd(54)} ${f(x.node.p50)} ${f(x.node.p99)}  ${f(x.python.p50)} ${f(x.python.p99)}  ${x.native ? f(x.native.p50) : '         -'}  ${x.ratio.toFixed(2)}x`);
  console.log(`  realtime factor (simulated s per wall s, fast mode): Node ${r.rtf.node.toFixed(1)}, Python ${r.rtf.python.toFixed(1)}; physics is ${(100 * r.wasmShare).toFixed(0)}% of a Node tick`);
}
