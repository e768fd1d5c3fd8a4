import { TorchError } from '../../errors.ts';
import { loadMjcfText, type MjData, type MjModel, type MujocoModule } from '../../sim/mujoco.ts';
import { Environment, type EnvironmentOptions } from '../environment.ts';
import { nodeErrors, type FieldValues } from '../fields.ts';

/** The beam's physical parameters (SI units). The same names drive the Python client's beam. */
export interface BeamParameters {
  /** Nodes along x (the length), y and z (default [8, 3, 3]). */
  count: [number, number, number];
  /** Distance between nodes, m (default 0.04: a 0.28 x 0.08 x 0.08 m beam). */
  spacing: number;
  /** Young's modulus, Pa (default 1e5: a soft elastomer). */
  young: number;
  /** Poisson ratio (default 0.3). */
  poisson: number;
  /** MuJoCo's elasticity damping, s (default 0.05). */
  damping: number;
  /** Total mass, kg (default 1). */
  mass: number;
  /** Time step, s (default 0.004). */
  timestep: number;
}

export interface BeamOptions extends EnvironmentOptions, Partial<BeamParameters> {
  /** The largest total force on a patch, N (default 4). Each sample draws a magnitude in [0.1, 1] of it. */
  forceMax?: number;
  /** Radius of the loaded patch of surface nodes around a random surface node, m (default 0.05). */
  patchRadius?: number;
  /** Settled when every node's speed is under this, m/s (default 1e-3). */
  settleVelocity?: number;
  /** Steps before the check starts (default 10) and the cap (default 2000): a sample that hits the cap is rejected. */
  minSteps?: number;
  maxSteps?: number;
}

export const BEAM_DEFAULTS: BeamParameters = { count: [8, 3, 3], spacing: 0.04, young: 1e5, poisson: 0.3, damping: 0.05, mass: 1, timestep: 0.004 };

/**
 * The beam's MJCF: a 3D `flexcomp` grid with linear elasticity, pinned at x = 0, without
 * gravity or contacts. python/torchloop_env/torchloop_env/beam.py writes the same text (a
 * test holds the two to it).
 */
export function beamMjcf(p: BeamParameters): string {
  const [nx, ny, nz] = p.count;
  for (const n of p.count) if (!Number.isInteger(n) || n < 2) throw new TorchError('ERR_ARGUMENT', `Expected a node count of at least 2 per axis for the beam but received [${p.count.join(', ')}]`);
  for (const k of ['spacing', 'young', 'damping', 'mass', 'timestep'] as const) {
    if (!(p[k] > 0) || !Number.isFinite(p[k])) throw new TorchError('ERR_ARGUMENT', `Expected a positive number for the beam's ${k} but received ${p[k]}`);
  }
  if (!(p.poisson >= 0 && p.poisson < 0.5)) throw new TorchError('ERR_ARGUMENT', `Expected a Poisson ratio in [0, 0.5) but received ${p.poisson}`);
  const g = (v: number) => String(v);
  const s = g(p.spacing);
  return [
    '<mujoco model="torchloop-beam">',
    `  <option timestep="${g(p.timestep)}" gravity="0 0 0" integrator="discrete" jacobian="sparse"/>`,
    '  <worldbody>',
    `    <flexcomp name="beam" type="grid" dim="3" count="${nx} ${ny} ${nz}" spacing="${s} ${s} ${s}" pos="${g(((nx - 1) * p.spacing) / 2)} 0 0" radius="0.001" mass="${g(p.mass)}">`,
    '      <contact contype="0" conaffinity="0" selfcollide="none"/>',
    '      <edge equality="false"/>',
    `      <elasticity young="${g(p.young)}" poisson="${g(p.poisson)}" damping="${g(p.damping)}"/>`,
    `      <pin gridrange="0 0 0 0 ${ny - 1} ${nz - 1}"/>`,
    '    </flexcomp>',
    '  </worldbody>',
    '</mujoco>',
    '',
  ].join('\n');
}

/**
 * DeepPhysX's beam demo on MuJoCo (the official WASM build): an elastic beam fixed at one
 * end. Each sample puts a random force on a random patch of its free surface and steps the
 * simulation until every node is still (or the step cap). The network learns the solver:
 * training field `forces` [nodes, 3] (N on each node) to `displacements` [nodes, 3] (m from
 * rest). Additional fields: `settle_steps` and `solve_ms`, the solver's cost.
 *
 * checkSample() rejects a sample that did not settle within maxSteps or blew up (a
 * non-finite state, or a node further than the beam's length from rest).
 * applyPrediction() scores a predicted displacement field against the solver's.
 */
export class BeamEnvironment extends Environment {
  readonly params: BeamParameters;
  readonly nodes: number;
  /** Rest positions of the nodes, m, [nodes * 3]. */
  rest = new Float64Array(0);
  /** Nodes on the free surface (the patch centres), and the pinned ones. */
  surface: number[] = [];
  pinned: boolean[] = [];
  readonly forces: Float64Array;
  readonly displacements: Float64Array;
  lastSteps = 0;
  lastSolveMs = 0;
  /** Why the last sample is rejected ('' when it is kept). */
  lastProblem = '';
  /** applyPrediction()'s score: mean and max node error, relative to the largest node displacement. */
  lastError = { mean: 0, max: 0 };
  readonly #o: Required<Pick<BeamOptions, 'forceMax' | 'patchRadius' | 'settleVelocity' | 'minSteps' | 'maxSteps'>>;
  #mj: MujocoModule | null = null;
  #model: MjModel | null = null;
  #data: MjData | null = null;
  #vertBody = new Int32Array(0);

  constructor(options: BeamOptions = {}) {
    super(options);
    this.params = { ...BEAM_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([k]) => k in BEAM_DEFAULTS)) } as BeamParameters;
    this.nodes = this.params.count[0] * this.params.count[1] * this.params.count[2];
    this.#o = { forceMax: options.forceMax ?? 4, patchRadius: options.patchRadius ?? 0.05, settleVelocity: options.settleVelocity ?? 1e-3, minSteps: options.minSteps ?? 10, maxSteps: options.maxSteps ?? 2000 };
    this.forces = new Float64Array(this.nodes * 3);
    this.displacements = new Float64Array(this.nodes * 3);
  }

  get length(): number {
    return (this.params.count[0] - 1) * this.params.spacing;
  }

  async create(): Promise<void> {
    const { mj, model } = await loadMjcfText(beamMjcf(this.params), 'beam.xml');
    this.#mj = mj;
    this.#model = model;
    this.#data = new mj.MjData(model);
    if (model.nflexvert !== this.nodes) throw new TorchError('ERR_SIM', `The beam has ${model.nflexvert} nodes, expected ${this.nodes}`);
    mj.mj_forward(model, this.#data);
    this.rest = Float64Array.from(this.#data.flexvert_xpos as Float64Array);
    this.#vertBody = Int32Array.from(model.flex_vertbodyid as Int32Array);
    this.pinned = Array.from(this.#vertBody, (b) => b === 0);
    const eps = 1e-6 * this.params.spacing;
    const max = [0, 1, 2].map((k) => Math.max(...Array.from({ length: this.nodes }, (_, v) => this.rest[3 * v + k])));
    const min = [0, 1, 2].map((k) => Math.min(...Array.from({ length: this.nodes }, (_, v) => this.rest[3 * v + k])));
    this.surface = [];
    for (let v = 0; v < this.nodes; v++) {
      if (this.pinned[v]) continue;
      const onFace = [0, 1, 2].some((k) => this.rest[3 * v + k] > max[k] - eps || (k > 0 && this.rest[3 * v + k] < min[k] + eps));
      if (onFace) this.surface.push(v);
    }
    this.defineTrainingFields([
      { name: 'forces', shape: [this.nodes, 3] },
      { name: 'displacements', shape: [this.nodes, 3] },
    ]);
    this.defineAdditionalFields([
      { name: 'settle_steps', shape: [1] },
      { name: 'solve_ms', shape: [1] },
    ]);
  }

  /** Draws a load: a random direction and magnitude on the surface nodes near a random surface node. */
  drawForces(): void {
    const r = this.random;
    const centre = this.surface[Math.floor(r.uniform(0, this.surface.length)) % this.surface.length];
    const patch = this.surface.filter((v) => Math.hypot(...[0, 1, 2].map((k) => this.rest[3 * v + k] - this.rest[3 * centre + k])) <= this.#o.patchRadius);
    let dir = [r.normal(0, 1), r.normal(0, 1), r.normal(0, 1)];
    const norm = Math.hypot(...dir) || 1;
    const magnitude = this.#o.forceMax * r.uniform(0.1, 1);
    dir = dir.map((d) => (d / norm) * (magnitude / patch.length));
    this.forces.fill(0);
    for (const v of patch) for (let k = 0; k < 3; k++) this.forces[3 * v + k] = dir[k];
  }

  /**
   * Applies `forces` [nodes * 3] (N) from rest and steps until the beam settles: the solver.
   * Fills `displacements`; returns false (with lastProblem set) when it did not settle or blew up.
   */
  solve(forces: ArrayLike<number> = this.forces): boolean {
    const mj = this.#mj!, m = this.#model!, d = this.#data!;
    const t0 = performance.now();
    mj.mj_resetData(m, d);
    const xf = d.xfrc_applied as Float64Array;
    for (let v = 0; v < this.nodes; v++) {
      const b = this.#vertBody[v];
      if (b > 0) for (let k = 0; k < 3; k++) xf[6 * b + k] = forces[3 * v + k];
    }
    const { settleVelocity, minSteps, maxSteps } = this.#o;
    let steps = 0, settled = false, finite = true;
    while (steps < maxSteps) {
      mj.mj_step(m, d);
      steps++;
      if (steps < minSteps) continue;
      const qvel = d.qvel as Float64Array;
      let fastest = 0;
      for (let i = 0; i < qvel.length; i++) {
        const a = Math.abs(qvel[i]);
        if (!(a <= fastest)) fastest = a; // NaN lands here too
      }
      if (!Number.isFinite(fastest)) {
        finite = false;
        break;
      }
      if (fastest < settleVelocity) {
        settled = true;
        break;
      }
    }
    const x = d.flexvert_xpos as Float64Array;
    let furthest = 0;
    for (let i = 0; i < this.displacements.length; i++) {
      this.displacements[i] = x[i] - this.rest[i];
      if (!Number.isFinite(this.displacements[i])) finite = false;
      furthest = Math.max(furthest, Math.abs(this.displacements[i]));
    }
    this.lastSteps = steps;
    this.lastSolveMs = performance.now() - t0;
    this.lastProblem = !finite || furthest > this.length ? `blew up after ${steps} steps` : !settled ? `did not settle in ${maxSteps} steps` : '';
    return this.lastProblem === '';
  }

  step(): void {
    this.drawForces();
    if (!this.solve()) return; // checkSample() rejects it; nothing non-finite is written
    this.setTrainingData({ forces: this.forces, displacements: this.displacements });
    this.setAdditionalData({ settle_steps: [this.lastSteps], solve_ms: [this.lastSolveMs] });
  }

  checkSample(): boolean {
    return this.lastProblem === '';
  }

  /** Scores a predicted `displacements` field against the solver's last one (lastError). */
  applyPrediction(prediction: FieldValues): void {
    const p = prediction.displacements;
    if (!p || p.length !== this.displacements.length) throw new TorchError('ERR_SHAPE', `Expected a 'displacements' prediction of ${this.displacements.length} values`);
    this.lastError = nodeErrors(this.displacements, p as ArrayLike<number>);
  }

  close(): void {
    this.#data?.delete();
    this.#model?.delete();
    this.#data = this.#model = null;
  }
}
