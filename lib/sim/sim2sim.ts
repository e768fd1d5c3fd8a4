/**
 * sim2sim: a legged-robot policy walking its robot in MuJoCo, as unitree_rl_gym's
 * deploy/deploy_mujoco/deploy_mujoco.py runs it, as a graph of entities:
 *
 *   sim (MujocoEntity, PD at the physics rate) -> obs (Entity) -> policy (TorchEntity) -> targets -> sim
 *
 * One tick is one policy period: the observation from the current state, the policy, the
 * new PD targets, then `control_decimation` physics steps. Like the authors' loop, the first
 * policy tick comes after one period of steps at the default angles. The observation is
 * theirs, in their precisions (float32 where numpy holds float32): body angular velocity,
 * projected gravity, the scaled command, joint positions and velocities, the last action and
 * the gait phase. The same build() serves the CLI, the demo (in a ControlLoop's thread) and
 * the tests.
 */
import { TorchError } from '../errors.ts';
import { Entity } from '../realtime/entity.ts';
import { plug, type OutputSignal } from '../realtime/signal.ts';
import { TorchEntity } from '../realtime/torch-entity.ts';
import { readDeployConfig, type DeployConfig } from './deploy-config.ts';
import { MujocoEntity } from './mujoco-entity.ts';
import { robotsRoot } from './robots.ts';

export interface Sim2SimOptions {
  /** The deploy config: a path, or a name in `<root>/deploy/deploy_mujoco/configs/`. */
  config: string;
  /** `{LEGGED_GYM_ROOT_DIR}`: the robot files' root (default: robotsRoot()). */
  root?: string;
  /** vx, vy, wz (default: the config's cmd_init). */
  command?: [number, number, number];
  /** Policy ticks whose pose and action are kept for trajectory() (default 0: none). */
  record?: number;
  /** The base height under which the robot has fallen, m (default 0.5). */
  fallHeight?: number;
}

export interface Trajectory {
  dt: number;
  t: number[];
  pos: number[][];
  quat: number[][];
  action: number[][];
}

export interface Sim2SimReport {
  ticks: number;
  seconds: number;
  /** Distance walked in the ground plane from the start, m. */
  distance: number;
  final: number[];
  minHeight: number;
  fell: boolean;
  /** The tick at which the base first went under fallHeight (-1: never). */
  fellAt: number;
  /** Per tick, ms: the physics steps, and the policy run. */
  physicsMs: { p50: number; p99: number; max: number };
  policyMs: { p50: number; p99: number; max: number; count: number };
}

const f32 = Math.fround;

export async function build(options: Sim2SimOptions): Promise<Sim2Sim> {
  const root = options.root ?? robotsRoot();
  const cfg = readDeployConfig(options.config, root);
  const sim = await MujocoEntity.load('sim', { model: cfg.xmlPath, substeps: cfg.controlDecimation, timestep: cfg.simulationDt, control: 'pd', kp: cfg.kps.map(f32), kd: cfg.kds.map(f32) });
  try {
    return new Sim2Sim(cfg, sim, options);
  } catch (e) {
    sim.dispose();
    throw e;
  }
}

export class Sim2Sim {
  readonly config: DeployConfig;
  readonly sim: MujocoEntity;
  readonly obs: Entity;
  readonly policy: TorchEntity;
  /** vx, vy, wz; write it to steer. */
  readonly command: Float64Array;
  readonly #obs: OutputSignal;
  readonly #action: OutputSignal;
  readonly #target: Float64Array;
  readonly #lastAction: Float32Array;
  readonly #rec: Float64Array;
  readonly #recRows: number;
  readonly #physics: Float64Array;
  readonly #fallHeight: number;
  #ticks = 0;
  #minHeight = Infinity;
  #fellAt = -1;
  readonly #start: Float64Array;

  constructor(cfg: DeployConfig, sim: MujocoEntity, options: Sim2SimOptions) {
    this.config = cfg;
    this.sim = sim;
    const n = cfg.numActions;
    if (sim.nu !== n) throw new TorchError('ERR_SHAPE', `'num_actions' in '${cfg.file}' is ${n}, but '${cfg.xmlPath}' has ${sim.nu} actuators`);
    const expectedObs = 9 + 3 * n + 2;
    if (cfg.numObs !== expectedObs) throw new TorchError('ERR_SHAPE', `'num_obs' in '${cfg.file}' is ${cfg.numObs}; the observation of deploy_mujoco.py has 9 + 3 x num_actions + 2 = ${expectedObs} values`);
    for (const s of ['sout_base_quat', 'sout_base_angvel']) if (!sim.signalNames().includes(s)) throw new TorchError('ERR_ARGUMENT', `'${cfg.xmlPath}' has no free joint first: sim2sim needs a floating base`);
    this.command = Float64Array.from(options.command ?? cfg.cmdInit);
    this.#fallHeight = options.fallHeight ?? 0.5;
    this.#target = sim.input('sin_target').value as Float64Array;
    this.#lastAction = new Float32Array(n);
    const defaults = Float32Array.from(cfg.defaultAngles);
    this.#target.set(defaults);

    // The observation, exactly as deploy_mujoco.py builds it.
    const quat = sim.output('sout_base_quat'), omega = sim.output('sout_base_angvel');
    const q = sim.output('sout_joint_pos'), dq = sim.output('sout_joint_vel');
    this.obs = new Entity('obs');
    const cmdScale = Float32Array.from(cfg.cmdScale), command = this.command, last = this.#lastAction;
    const dt = cfg.simulationDt, period = 0.8;
    this.#obs = this.obs.addOutput('sout_obs', {
      shape: [1, cfg.numObs],
      dependsOn: [quat, omega, q, dq],
      compute: (o) => {
        const w = omega.value, qu = quat.value, qj = q.value, dqj = dq.value;
        for (let i = 0; i < 3; i++) o[i] = w[i] * cfg.angVelScale;
        const [qw, qx, qy, qz] = qu;
        o[3] = 2 * (-qz * qx + qw * qy);
        o[4] = -2 * (qz * qy + qw * qx);
        o[5] = 1 - 2 * (qw * qw + qz * qz);
        for (let i = 0; i < 3; i++) o[6 + i] = f32(f32(command[i]) * cmdScale[i]);
        for (let i = 0; i < n; i++) {
          o[9 + i] = (qj[i] - defaults[i]) * cfg.dofPosScale;
          o[9 + n + i] = dqj[i] * cfg.dofVelScale;
          o[9 + 2 * n + i] = last[i];
        }
        const phase = ((sim.steps * dt) % period) / period;
        o[9 + 3 * n] = Math.sin(2 * Math.PI * phase);
        o[9 + 3 * n + 1] = Math.cos(2 * Math.PI * phase);
      },
    });

    this.policy = new TorchEntity('policy');
    try {
      this.policy.loadModel(cfg.policyPath);
      this.policy.addInput('sin_obs', { shape: [1, cfg.numObs] });
      this.#action = this.policy.addOutput('sout_action');
      this.policy.input('sin_obs').value = new Float32Array(cfg.numObs);
      this.policy.warmup();
      const got = this.#action.value.length;
      if (got !== n) throw new TorchError('ERR_SHAPE', `The policy '${cfg.policyPath}' returns ${got} values; 'num_actions' in '${cfg.file}' is ${n}`);
    } catch (e) {
      this.policy.dispose();
      this.obs.dispose();
      if (e instanceof TorchError && (e.code === 'ERR_SHAPE' || e.code === 'ERR_RUNTIME') && !e.message.includes('num_actions')) {
        throw new TorchError('ERR_SHAPE', `The policy '${cfg.policyPath}' does not take 'num_obs' = ${cfg.numObs} observations of '${cfg.file}': ${e.message}`);
      }
      throw e;
    }
    plug(this.#obs, this.policy.signal('sin_obs'));
    this.policy.resetStats();

    this.#recRows = Math.max(0, options.record ?? 0);
    this.#rec = new Float64Array(this.#recRows * (1 + 3 + 4 + n));
    this.#physics = new Float64Array(Math.max(1, this.#recRows || 4096));
    // MuJoCo's WASM code compiled and optimised before the first tick (a scratch state).
    sim.warmup();
    // The authors' loop steps one period at the default angles before the policy's first tick.
    sim.increment(-1);
    this.#start = Float64Array.from(sim.output('sout_base_pos').value.subarray(0, 2));
  }

  /** One policy tick: observation, policy, PD targets, then control_decimation physics steps. */
  tick(t: number): void {
    const n = this.config.numActions, a = this.#action, target = this.#target, last = this.#lastAction;
    a.recompute(t);
    const action = a.value;
    const scale = this.config.actionScale, defaults = this.config.defaultAngles;
    for (let i = 0; i < n; i++) {
      last[i] = action[i];
      target[i] = f32(f32(action[i] * scale) + f32(defaults[i]));
    }
    const pos = this.sim.output('sout_base_pos');
    pos.recompute(t);
    const p = pos.value;
    if (p[2] < this.#minHeight) this.#minHeight = p[2];
    if (p[2] < this.#fallHeight && this.#fellAt < 0) this.#fellAt = this.#ticks;
    if (this.#ticks < this.#recRows) {
      const row = this.#rec.subarray(this.#ticks * (8 + n), (this.#ticks + 1) * (8 + n));
      row[0] = this.sim.steps * this.config.simulationDt;
      row.set(p, 1);
      const quat = this.sim.output('sout_base_quat');
      quat.recompute(t);
      row.set(quat.value, 4);
      for (let i = 0; i < n; i++) row[8 + i] = action[i];
    }
    const t0 = performance.now();
    this.sim.increment(t);
    this.lastPhysicsMs = performance.now() - t0;
    this.#physics[this.#ticks % this.#physics.length] = this.lastPhysicsMs;
    this.#ticks++;
  }

  /** The last tick's physics steps (PD included), ms. */
  lastPhysicsMs = 0;

  /** The recorded ticks as deploy_mujoco.py's reference writes them. */
  trajectory(): Trajectory {
    const n = this.config.numActions, rows = Math.min(this.#ticks, this.#recRows);
    const out: Trajectory = { dt: this.config.simulationDt * this.config.controlDecimation, t: [], pos: [], quat: [], action: [] };
    for (let k = 0; k < rows; k++) {
      const r = this.#rec.subarray(k * (8 + n), (k + 1) * (8 + n));
      out.t.push(r[0]);
      out.pos.push(Array.from(r.subarray(1, 4)));
      out.quat.push(Array.from(r.subarray(4, 8)));
      out.action.push(Array.from(r.subarray(8)));
    }
    return out;
  }

  report(): Sim2SimReport {
    const p = this.sim.output('sout_base_pos').value;
    const kept = Array.from(this.#physics.subarray(0, Math.min(this.#ticks, this.#physics.length))).sort((a, b) => a - b);
    const q = (f: number) => (kept.length ? kept[Math.min(kept.length - 1, Math.floor(f * kept.length))] : NaN);
    return {
      ticks: this.#ticks,
      seconds: this.sim.steps * this.config.simulationDt,
      distance: Math.hypot(p[0] - this.#start[0], p[1] - this.#start[1]),
      final: Array.from(p),
      minHeight: this.#minHeight,
      fell: this.#fellAt >= 0,
      fellAt: this.#fellAt,
      physicsMs: { p50: q(0.5), p99: q(0.99), max: kept.length ? kept[kept.length - 1] : NaN },
      policyMs: this.policy.latencySummary(),
    };
  }

  dispose(): void {
    for (const e of [this.policy, this.obs, this.sim]) e.dispose();
  }
}
