/**
 * `torchloop sim2sim <config.yaml> --root <dir>`: a deploy config of unitree_rl_gym, run as its
 * authors' deploy_mujoco.py runs it, as fast as it can on the main thread (the default) or at
 * wall-clock rate in a ControlLoop (--realtime, --view). The demo runs the same code.
 */
import { writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { TorchError } from '../errors.ts';
import { ownModule } from '../paths.ts';
import { ControlLoop, type LoopStats } from '../realtime/control-loop.ts';
import type { Scope } from '../realtime/scope.ts';
import { readDeployConfig } from '../sim/deploy-config.ts';
import { robotsRoot } from '../sim/robots.ts';
import { build, type Sim2SimReport, type Trajectory } from '../sim/sim2sim.ts';

export interface Sim2SimRun {
  config: string;
  root?: string;
  seconds?: number;
  realtime?: boolean;
  command?: [number, number, number];
  trajectory?: string;
  view?: boolean;
  scopePort?: number;
  /** The scope's address (default 127.0.0.1; another makes the page want a token). */
  scopeHost?: string;
  /** Called with the scope's URL once it serves (--view). */
  onScope?: (scope: Scope) => void | Promise<void>;
  /** Called about once a second while a realtime run goes. */
  onProgress?: (loop: ControlLoop) => void;
  /** The loop thread's realtime settings (ControlLoop's `realtime`: SCHED_FIFO priority, CPU, mlockall). */
  loopRealtime?: { priority?: number; cpu?: number; lockMemory?: boolean };
  /** Called with each of the loop's warnings (a realtime setting the process may not apply). */
  onWarning?: (warning: string) => void;
  /** Ends a realtime run early (the report covers the ticks run). */
  abort?: AbortSignal;
}

export interface Sim2SimResult extends Sim2SimReport {
  realtimeFactor: number;
  wallSeconds: number;
  loop?: Pick<LoopStats, 'missed' | 'jitter' | 'compute' | 'gcs' | 'realtime'>;
  trajectory?: Trajectory;
}

/** Parses `vx,vy,wz`. */
export function parseCommand(s: string | undefined): [number, number, number] | undefined {
  if (s === undefined) return undefined;
  const v = s.split(',').map(Number);
  if (v.length !== 3 || v.some((x) => !Number.isFinite(x))) throw new TorchError('ERR_ARGUMENT', `Expected --command vx,vy,wz (three numbers) but received '${s}'`);
  return v as [number, number, number];
}

export async function runSim2Sim(o: Sim2SimRun): Promise<Sim2SimResult> {
  const root = o.root ?? robotsRoot();
  const seconds = o.seconds ?? 10;
  if (!(seconds > 0)) throw new TorchError('ERR_ARGUMENT', `Expected a positive --seconds but received ${seconds}`);
  const options = { config: o.config, root, command: o.command, record: o.trajectory !== undefined ? Number.MAX_SAFE_INTEGER : 0 };
  let result: Sim2SimResult;
  if (!o.realtime && !o.view) {
    const s = await build({ ...options, record: o.trajectory !== undefined ? Math.ceil(seconds / 0.001) : 0 });
    try {
      const ticks = Math.round(seconds / (s.config.simulationDt * s.config.controlDecimation));
      const t0 = performance.now();
      for (let t = 0; t < ticks; t++) s.tick(t);
      const wall = (performance.now() - t0) / 1000;
      const r = s.report();
      result = { ...r, wallSeconds: wall, realtimeFactor: r.seconds / wall, trajectory: o.trajectory !== undefined ? s.trajectory() : undefined };
    } finally {
      s.dispose();
    }
  } else {
    result = await runInLoop(o, { ...options, seconds });
  }
  if (o.trajectory !== undefined && result.trajectory) writeFileSync(o.trajectory, JSON.stringify(result.trajectory));
  return result;
}

async function runInLoop(o: Sim2SimRun, options: { config: string; root: string; command?: [number, number, number]; seconds: number }): Promise<Sim2SimResult> {
  const cfg = readDeployConfig(options.config, options.root);
  const hz = 1 / (cfg.simulationDt * cfg.controlDecimation);
  const ticks = Math.round(options.seconds * hz);
  const loop = new ControlLoop({
    module: pathToFileURL(ownModule('sim/sim2sim-loop')),
    options: { ...options, record: o.trajectory !== undefined ? ticks + 1 : 0, ticks },
    hz,
    realtime: o.loopRealtime,
    signals: ['sim.sout_base_pos', 'policy.sout_action', 'sim.sout_geom_pose', 'sim.sout_joint_pos'],
  });
  const errors: Error[] = [];
  loop.on('error', (e: Error) => errors.push(e));
  loop.on('warning', (w: string) => o.onWarning?.(w));
  await loop.start();
  let scope: Scope | undefined;
  if (o.view) {
    const { serveScope } = await import('../realtime/scope.ts');
    const { sceneOf } = await import('../sim/scene.ts');
    scope = await serveScope(loop, { port: o.scopePort ?? 0, host: o.scopeHost, signals: ['sim.sout_base_pos', 'policy.sout_action', 'sim.sout_joint_pos'], scene: { poses: 'sim.sout_geom_pose', describe: () => sceneOf(cfg.xmlPath), follow: 'sim.sout_base_pos' } });
    await o.onScope?.(scope);
  }
  // The loop stops itself after `ticks` (its tick function stops ticking the graph); wait for it.
  while (loop.running && loop.stats().ticks < ticks && !o.abort?.aborted) {
    await new Promise((r) => setTimeout(r, 200));
    o.onProgress?.(loop);
  }
  const stats = await loop.stop();
  await scope?.close();
  if (errors.length) throw errors[0];
  const r = stats.report as Sim2SimReport & { trajectory?: Trajectory; wallSeconds: number };
  // The simulated time after the first tick (the start state's prefix period is not paced).
  const paced = r.ticks * cfg.simulationDt * cfg.controlDecimation;
  return { ...r, wallSeconds: r.wallSeconds, realtimeFactor: r.wallSeconds > 0 ? paced / r.wallSeconds : 0, loop: { missed: stats.missed, jitter: stats.jitter, compute: stats.compute, gcs: stats.gcs, realtime: stats.realtime } };
}

const ms = (x: number) => `${(x * 1000).toFixed(1)} µs`;

export function formatSim2Sim(r: Sim2SimResult): string {
  const lines = [
    `walked ${r.distance.toFixed(3)} m in ${r.seconds.toFixed(2)} s simulated (${r.ticks} policy ticks); base now at x=${r.final[0].toFixed(4)} y=${r.final[1].toFixed(4)} z=${r.final[2].toFixed(4)}`,
    r.fell ? `FELL: the base went under the fall height at tick ${r.fellAt} (lowest ${r.minHeight.toFixed(3)} m)` : `stayed up (lowest base height ${r.minHeight.toFixed(3)} m)`,
    `per policy tick: physics p50 ${ms(r.physicsMs.p50)}, p99 ${ms(r.physicsMs.p99)}; policy p50 ${ms(r.policyMs.p50)}, p99 ${ms(r.policyMs.p99)}`,
    `realtime factor ${r.realtimeFactor.toFixed(1)} (simulated s per wall s)`,
  ];
  if (r.loop) lines.push(`loop: jitter p99 ${ms(r.loop.jitter.p99)}, missed deadlines ${r.loop.missed}, GCs ${r.loop.gcs}`);
  return lines.join('\n');
}
