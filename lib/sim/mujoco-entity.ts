/**
 * A MuJoCo plant as a dynamic-graph entity, as a robot device is in dynamic-graph-manager:
 * its state outputs have no dependencies (they copy the current state), and `increment(t)`
 * pulls the control input for tick t and advances `substeps` physics steps.
 */
import { TorchError, describe } from '../errors.ts';
import { Entity } from '../realtime/entity.ts';
import type { Pool } from '../realtime/pool.ts';
import type { InputSignal, OutputSignal } from '../realtime/signal.ts';
import { loadMjcf, type MjData, type MjModel, type MujocoModule } from './mujoco.ts';

export interface MujocoEntityOptions {
  /** The MJCF file; every file it references is read with it. */
  model: string;
  /** Physics steps per tick (default 1). */
  substeps?: number;
  /** Overrides the model's `<option timestep>`, s. */
  timestep?: number;
  /**
   * 'ctrl': the input `sin_ctrl` is written to MuJoCo's ctrl (default).
   * 'pd': the input `sin_target` holds joint position targets in actuator order, and before
   * every physics step ctrl = kp (target - q) - kd dq, with q and dq the actuated joints'
   * (PD at the physics rate, as sim2sim loops do); `sin_kp` and `sin_kd` hold the gains.
   */
  control?: 'ctrl' | 'pd';
  /** PD gains per actuator (control 'pd'); a number applies to all. */
  kp?: number | readonly number[];
  kd?: number | readonly number[];
  /** Named sensors to output as `sout_sensor_<name>` (default: every named sensor). */
  sensors?: string[];
  pool?: Pool;
}

// mjtJoint and mjtTrn values.
const FREE = 0, TRN_JOINT = 0;
// mjMAXVAL: MuJoCo zeroes a ctrl beyond it, and resets a state beyond it.
const MAX_VAL = 1e10;

/**
 * Output signals (float64): `sout_qpos`, `sout_qvel`, `sout_time`; with a free joint first,
 * `sout_base_pos`, `sout_base_quat` (w, x, y, z), `sout_base_linvel` (world frame) and
 * `sout_base_angvel` (body frame, as MuJoCo's free-joint qvel); `sout_joint_pos` and
 * `sout_joint_vel` in actuator order; `sout_sensor_<name>` per named sensor; and
 * `sout_geom_pose` (per geom: position 3, rotation matrix 9, row-major), what the 3D view draws.
 *
 * Create it with `await MujocoEntity.load(name, options)` (the WASM module loads
 * asynchronously). A tick allocates nothing: the WASM memory's views are kept and made again
 * only when that memory grows.
 */
export class MujocoEntity extends Entity {
  readonly mj: MujocoModule;
  readonly model: MjModel;
  readonly data: MjData;
  readonly substeps: number;
  readonly timestep: number;
  readonly control: 'ctrl' | 'pd';
  /** Physics steps taken since load or reset(). */
  steps = 0;
  /** Names of the actuated joints, in actuator order. */
  readonly jointNames: string[];
  readonly sensorNames: string[];
  readonly nq: number;
  readonly nv: number;
  readonly nu: number;
  readonly ngeom: number;
  readonly #input: InputSignal;
  readonly #kp: InputSignal | null = null;
  readonly #kd: InputSignal | null = null;
  readonly #jointQ: Int32Array;
  readonly #jointV: Int32Array;
  readonly #base: { q: number; v: number } | null;
  readonly #sensors: { adr: number; dim: number }[];
  #v!: { qpos: Float64Array; qvel: Float64Array; ctrl: Float64Array; sensordata: Float64Array; xpos: Float64Array; xmat: Float64Array };
  #file: string;

  static async load(name: string, options: MujocoEntityOptions): Promise<MujocoEntity> {
    if (!options || typeof options.model !== 'string') throw new TorchError('ERR_ARGUMENT', `Expected { model: '<file.xml>' } for MujocoEntity '${name}' but received ${describe(options?.model)}`);
    const { mj, model } = await loadMjcf(options.model);
    return new MujocoEntity(name, options, mj, model);
  }

  private constructor(name: string, options: MujocoEntityOptions, mj: MujocoModule, model: MjModel) {
    super(name, { pool: options.pool });
    this.mj = mj;
    this.model = model;
    this.#file = options.model;
    const substeps = options.substeps ?? 1;
    if (!Number.isInteger(substeps) || substeps < 1) throw new TorchError('ERR_ARGUMENT', `Expected a positive integer for substeps of '${name}' but received ${describe(options.substeps)}`);
    this.substeps = substeps;
    if (options.timestep !== undefined) {
      if (!(options.timestep > 0)) throw new TorchError('ERR_ARGUMENT', `Expected a positive timestep for '${name}' but received ${describe(options.timestep)}`);
      model.opt.timestep = options.timestep;
    }
    this.timestep = model.opt.timestep;
    this.data = new mj.MjData(model);
    this.nq = model.nq;
    this.nv = model.nv;
    this.nu = model.nu;
    this.ngeom = model.ngeom;
    const allNames = decodeNames(model.names);
    const nameOf = (adr: Int32Array, i: number) => allNames(adr[i]);

    // Actuated joints in actuator order.
    const trntype = model.actuator_trntype as Int32Array, trnid = model.actuator_trnid as Int32Array;
    const qadr = model.jnt_qposadr as Int32Array, vadr = model.jnt_dofadr as Int32Array, jntNameAdr = model.name_jntadr as Int32Array;
    this.#jointQ = new Int32Array(this.nu);
    this.#jointV = new Int32Array(this.nu);
    this.jointNames = [];
    for (let i = 0; i < this.nu; i++) {
      const j = trntype[i] === TRN_JOINT ? trnid[2 * i] : -1;
      this.#jointQ[i] = j >= 0 ? qadr[j] : -1;
      this.#jointV[i] = j >= 0 ? vadr[j] : -1;
      this.jointNames.push(j >= 0 ? nameOf(jntNameAdr, j) : '');
    }
    const jntType = model.jnt_type as Int32Array;
    this.#base = model.njnt > 0 && jntType[0] === FREE ? { q: qadr[0], v: vadr[0] } : null;

    // Control.
    this.control = options.control ?? 'ctrl';
    if (this.control !== 'ctrl' && this.control !== 'pd') throw new TorchError('ERR_ARGUMENT', `Expected 'ctrl' or 'pd' for the control of '${name}' but received ${describe(options.control)}`);
    if (this.control === 'pd') {
      const missing = this.jointNames.map((n, i) => (this.#jointQ[i] < 0 ? i : -1)).filter((i) => i >= 0);
      if (missing.length) throw new TorchError('ERR_ARGUMENT', `PD control of '${name}' needs joint actuators; actuator(s) ${missing.join(', ')} of '${this.#file}' drive something else`);
      this.#input = this.addInput('sin_target', { shape: [this.nu], dtype: 'float64' });
      this.#kp = this.addInput('sin_kp', { shape: [this.nu], dtype: 'float64' });
      this.#kd = this.addInput('sin_kd', { shape: [this.nu], dtype: 'float64' });
      this.#kp.value = gains(options.kp ?? 0, this.nu, 'kp', name);
      this.#kd.value = gains(options.kd ?? 0, this.nu, 'kd', name);
    } else {
      this.#input = this.addInput('sin_ctrl', { shape: [this.nu], dtype: 'float64' });
    }
    this.#refresh();
    this.#input.value = this.control === 'pd' ? this.#jointPositions(new Float64Array(this.nu)) : new Float64Array(this.nu);

    // Outputs: copies of the current state.
    const out = (n: string, size: number, fill: (o: Float64Array) => void): OutputSignal =>
      this.addOutput(n, { shape: [size], dtype: 'float64', compute: (o) => { this.#fresh(); fill(o as Float64Array); } });
    out('sout_qpos', this.nq, (o) => o.set(this.#v.qpos));
    out('sout_qvel', this.nv, (o) => o.set(this.#v.qvel));
    out('sout_time', 1, (o) => (o[0] = this.data.time));
    if (this.#base) {
      const { q, v } = this.#base;
      out('sout_base_pos', 3, (o) => { const s = this.#v.qpos; o[0] = s[q]; o[1] = s[q + 1]; o[2] = s[q + 2]; });
      out('sout_base_quat', 4, (o) => { const s = this.#v.qpos; o[0] = s[q + 3]; o[1] = s[q + 4]; o[2] = s[q + 5]; o[3] = s[q + 6]; });
      out('sout_base_linvel', 3, (o) => { const s = this.#v.qvel; o[0] = s[v]; o[1] = s[v + 1]; o[2] = s[v + 2]; });
      out('sout_base_angvel', 3, (o) => { const s = this.#v.qvel; o[0] = s[v + 3]; o[1] = s[v + 4]; o[2] = s[v + 5]; });
    }
    out('sout_joint_pos', this.nu, (o) => this.#jointPositions(o));
    out('sout_joint_vel', this.nu, (o) => { const s = this.#v.qvel; for (let i = 0; i < this.nu; i++) o[i] = s[this.#jointV[i]]; });
    const sensorAdr = model.sensor_adr as Int32Array, sensorDim = model.sensor_dim as Int32Array, sensorNameAdr = model.name_sensoradr as Int32Array;
    const named = new Map<string, number>();
    for (let i = 0; i < model.nsensor; i++) { const n = nameOf(sensorNameAdr, i); if (n) named.set(n, i); }
    const wanted = options.sensors ?? [...named.keys()];
    this.sensorNames = [];
    this.#sensors = [];
    for (const n of wanted) {
      const i = named.get(n);
      if (i === undefined) throw new TorchError('ERR_NOT_FOUND', `'${this.#file}' has no sensor named '${n}' (named sensors: ${[...named.keys()].join(', ') || 'none'})`);
      const s = { adr: sensorAdr[i], dim: sensorDim[i] };
      this.sensorNames.push(n);
      this.#sensors.push(s);
      out(`sout_sensor_${n}`, s.dim, (o) => o.set(this.#v.sensordata.subarray(s.adr, s.adr + s.dim)));
    }
    out('sout_geom_pose', 12 * this.ngeom, (o) => {
      const p = this.#v.xpos, r = this.#v.xmat;
      for (let g = 0; g < this.ngeom; g++) {
        for (let k = 0; k < 3; k++) o[12 * g + k] = p[3 * g + k];
        for (let k = 0; k < 9; k++) o[12 * g + 3 + k] = r[9 * g + k];
      }
    });
    this.mj.mj_forward(this.model, this.data);
  }

  /** Simulated time, s. */
  get time(): number {
    return this.data.time;
  }

  /**
   * Advances `substeps` physics steps under the control input of tick t. A state that is not
   * finite, or that MuJoCo reset because it diverged, is ERR_SIM naming the tick and time.
   */
  increment(t: number): void {
    this.#input.recompute(t);
    this.#fresh();
    const v = this.#v, u = this.#input.value, nu = this.nu, m = this.model, d = this.data, mj = this.mj;
    const before = d.time;
    if (this.control === 'pd') {
      this.#kp!.recompute(t);
      this.#kd!.recompute(t);
      const kp = this.#kp!.value, kd = this.#kd!.value, jq = this.#jointQ, jv = this.#jointV;
      for (let s = 0; s < this.substeps; s++) {
        for (let i = 0; i < nu; i++) {
          const c = (u[i] - v.qpos[jq[i]]) * kp[i] + (0 - v.qvel[jv[i]]) * kd[i];
          if (!(Math.abs(c) <= MAX_VAL)) this.#badCtrl(t, i, c);
          v.ctrl[i] = c;
        }
        mj.mj_step(m, d);
        this.steps++;
        if (v.qpos.length === 0) this.#refresh();
      }
    } else {
      for (let i = 0; i < nu; i++) if (!(Math.abs(u[i]) <= MAX_VAL)) this.#badCtrl(t, i, u[i]);
      v.ctrl.set(u);
      for (let s = 0; s < this.substeps; s++) {
        mj.mj_step(m, d);
        this.steps++;
      }
      this.#fresh();
    }
    this.#checkState(t, before);
  }

  /**
   * Steps a scratch copy of the model (from its initial state, under PD holding the initial
   * joint angles with control 'pd', else zero ctrl) so that V8 has compiled and optimised
   * MuJoCo's WASM code before the first tick: V8 first runs it unoptimised, and the first
   * ~50 ticks of a 10-step tick otherwise take up to 30x the steady time (13.6 ms against
   * 0.3 ms on the H1). The entity's own state is untouched. Returns the milliseconds taken.
   */
  warmup(steps = 2000): number {
    const t0 = performance.now();
    const mj = this.mj, m = this.model, d = new mj.MjData(m);
    try {
      const kp = this.#kp?.value, kd = this.#kd?.value, jq = this.#jointQ, jv = this.#jointV, nu = this.nu;
      let qpos = d.qpos as Float64Array, qvel = d.qvel as Float64Array, ctrl = d.ctrl as Float64Array;
      const hold = Float64Array.from({ length: nu }, (_, i) => (jq[i] >= 0 ? qpos[jq[i]] : 0));
      for (let s = 0; s < steps; s++) {
        if (qpos.length === 0) [qpos, qvel, ctrl] = [d.qpos, d.qvel, d.ctrl];
        if (kp && kd) for (let i = 0; i < nu; i++) ctrl[i] = (hold[i] - qpos[jq[i]]) * kp[i] - qvel[jv[i]] * kd[i];
        mj.mj_step(m, d);
      }
    } finally {
      d.delete();
    }
    this.#refresh();
    return performance.now() - t0;
  }

  /** Back to the model's initial state (or its keyframe `key`), time 0. */
  reset(key?: number): void {
    if (key === undefined) this.mj.mj_resetData(this.model, this.data);
    else (this.mj as unknown as { mj_resetDataKeyframe(m: MjModel, d: MjData, k: number): void }).mj_resetDataKeyframe(this.model, this.data, key);
    this.steps = 0;
    this.mj.mj_forward(this.model, this.data);
    for (const s of this.signals.values()) s.time = Number.NEGATIVE_INFINITY;
  }

  override dispose(): void {
    if (this.disposed) return;
    super.dispose();
    this.data.delete();
    this.model.delete();
  }

  #jointPositions(o: Float64Array): Float64Array {
    this.#fresh();
    const s = this.#v.qpos;
    for (let i = 0; i < this.nu; i++) o[i] = s[this.#jointQ[i]];
    return o;
  }

  #checkState(t: number, before: number): void {
    const { qpos, qvel } = this.#v;
    let bad = -1;
    for (let i = 0; i < qpos.length; i++) if (!Number.isFinite(qpos[i])) { bad = i; break; }
    if (bad < 0) for (let i = 0; i < qvel.length; i++) if (!Number.isFinite(qvel[i])) { bad = qpos.length + i; break; }
    const reset = this.data.time < before + 0.5 * this.substeps * this.timestep;
    if (bad < 0 && !reset) return;
    const what = bad >= 0 ? `${bad < qpos.length ? `qpos[${bad}]` : `qvel[${bad - qpos.length}]`} is not finite` : `MuJoCo reset the state (${this.#warnings() || 'it diverged'})`;
    throw new TorchError('ERR_SIM', `The simulation of '${this.#file}' became unstable at tick ${t} (t = ${before.toFixed(4)} s): ${what}. Check the control input (gains, targets) and the timestep (${this.timestep} s)`);
  }

  // MuJoCo would set such a ctrl to 0 (a BADCTRL warning) and go on: the input would be ignored.
  #badCtrl(t: number, i: number, c: number): never {
    const how = this.control === 'pd' ? `kp (target - q) - kd dq = ${c} from sin_target, sin_kp and sin_kd` : `sin_ctrl[${i}] = ${c}`;
    throw new TorchError('ERR_SIM', `The control of actuator ${i} (${this.jointNames[i] || 'unnamed'}) of '${this.#file}' at tick ${t} is ${how}: not finite or beyond MuJoCo's limit of 1e10, which MuJoCo would silently replace by 0`);
  }

  #warnings(): string {
    const names = ['BADQPOS', 'BADQVEL', 'BADQACC', 'BADCTRL'];
    const out: string[] = [];
    for (const n of names) {
      const w = this.data.warning.get((this.mj as unknown as { mjtWarning: Record<string, { value: number }> }).mjtWarning[`mjWARN_${n}`].value);
      if (w && w.number > 0) out.push(`${n.toLowerCase()} x${w.number}`);
    }
    return out.join(', ');
  }

  /** Views of WASM memory; made again when memory grew (the old ones are then detached). */
  #fresh(): void {
    if (this.#v.qpos.length === 0 && this.nq > 0) this.#refresh();
  }

  #refresh(): void {
    const d = this.data;
    this.#v = { qpos: d.qpos, qvel: d.qvel, ctrl: d.ctrl, sensordata: d.sensordata, xpos: d.geom_xpos, xmat: d.geom_xmat };
  }
}

function gains(v: number | readonly number[], n: number, what: string, name: string): Float64Array {
  if (typeof v === 'number') return new Float64Array(n).fill(v);
  if (!Array.isArray(v) && !ArrayBuffer.isView(v)) throw new TorchError('ERR_ARGUMENT', `Expected a number or ${n} numbers for ${what} of '${name}' but received ${describe(v)}`);
  if (v.length !== n) throw new TorchError('ERR_SHAPE', `Expected ${n} values for ${what} of '${name}' (one per actuator) but received ${v.length}`);
  return Float64Array.from(v);
}

/** Reads NUL-terminated names out of MuJoCo's `names` buffer. */
function decodeNames(bytes: Int8Array | Uint8Array): (adr: number) => string {
  const u = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length).slice();
  const dec = new TextDecoder();
  return (adr) => {
    let end = adr;
    while (end < u.length && u[end] !== 0) end++;
    return dec.decode(u.subarray(adr, end));
  };
}
