import { Environment, type EnvironmentOptions } from '../environment.ts';
import type { FieldValues } from '../fields.ts';

export interface SpringChainOptions extends EnvironmentOptions {
  /** Masses in the chain (default 32). */
  nodes?: number;
  /** Load increments per solve, each with Newton iterations (default 200): the CPU cost of a sample. */
  iterations?: number;
}

/**
 * A chain of masses joined by hardening springs (f = k d + k3 d^3), fixed to a wall at one
 * end, under random axial loads. Each sample draws loads and solves the static equilibrium
 * by load stepping with Newton's method (a tridiagonal Jacobian, solved by the Thomas
 * algorithm): a small, CPU-bound simulation whose load -> displacement map is nonlinear.
 *
 * Training fields: `loads` [n] (N), `displacements` [n] (m). Additional: `residual` [1], the
 * largest remaining force imbalance. applyPrediction() sets the displacements and reports the
 * residual they leave: how a network's prediction is scored against the physics.
 */
export class SpringChainEnvironment extends Environment {
  readonly n: number;
  readonly iterations: number;
  readonly k = 40;
  readonly k3 = 400;
  readonly loads: Float64Array;
  readonly u: Float64Array;
  lastResidual = 0;
  #r: Float64Array;
  #diag: Float64Array;
  #off: Float64Array;
  #c: Float64Array;
  #scaled: Float64Array;

  constructor(options: SpringChainOptions = {}) {
    super(options);
    this.n = options.nodes ?? 32;
    this.iterations = options.iterations ?? 200;
    this.loads = new Float64Array(this.n);
    this.u = new Float64Array(this.n);
    this.#r = new Float64Array(this.n);
    this.#diag = new Float64Array(this.n);
    this.#off = new Float64Array(this.n);
    this.#c = new Float64Array(this.n);
    this.#scaled = new Float64Array(this.n);
  }

  create(): void {
    this.defineTrainingFields([
      { name: 'loads', shape: [this.n] },
      { name: 'displacements', shape: [this.n] },
    ]);
    this.defineAdditionalFields([{ name: 'residual', shape: [1] }]);
  }

  /** Spring force for an extension d, and its stiffness. */
  spring(d: number): number {
    return this.k * d + this.k3 * d * d * d;
  }

  stiffness(d: number): number {
    return this.k + 3 * this.k3 * d * d;
  }

  /** Residual R_i = load_i + net spring force on node i; returns max |R|. */
  residual(u: Float64Array, loads: Float64Array, out: Float64Array): number {
    let worst = 0;
    for (let i = 0; i < this.n; i++) {
      const left = this.spring(u[i] - (i > 0 ? u[i - 1] : 0));
      const right = i < this.n - 1 ? this.spring(u[i + 1] - u[i]) : 0;
      out[i] = loads[i] + right - left;
      worst = Math.max(worst, Math.abs(out[i]));
    }
    return worst;
  }

  /** One Newton update: solve J du = -R (J tridiagonal, symmetric) and apply it. */
  #newton(loads: Float64Array): number {
    const n = this.n, u = this.u, r = this.#r, diag = this.#diag, off = this.#off, c = this.#c;
    const worst = this.residual(u, loads, r);
    for (let i = 0; i < n; i++) {
      const kl = this.stiffness(u[i] - (i > 0 ? u[i - 1] : 0));
      const kr = i < n - 1 ? this.stiffness(u[i + 1] - u[i]) : 0;
      diag[i] = -(kl + kr);
      off[i] = kr; // J[i][i+1] = J[i+1][i]
    }
    // Thomas algorithm on J du = -r, du written into r.
    c[0] = off[0] / diag[0];
    r[0] = -r[0] / diag[0];
    for (let i = 1; i < n; i++) {
      const m = diag[i] - off[i - 1] * c[i - 1];
      c[i] = off[i] / m;
      r[i] = (-r[i] - off[i - 1] * r[i - 1]) / m;
    }
    for (let i = n - 2; i >= 0; i--) r[i] -= c[i] * r[i + 1];
    for (let i = 0; i < n; i++) u[i] += r[i];
    return worst;
  }

  step(): void {
    for (let i = 0; i < this.n; i++) this.loads[i] = this.random.normal(0, 2);
    this.u.fill(0);
    const scaled = this.#scaled;
    for (let s = 1; s <= this.iterations; s++) {
      const f = s / this.iterations;
      for (let i = 0; i < this.n; i++) scaled[i] = f * this.loads[i];
      for (let it = 0; it < 4; it++) this.#newton(scaled);
    }
    this.lastResidual = this.residual(this.u, this.loads, this.#r);
    this.setTrainingData({ loads: this.loads, displacements: this.u });
    this.setAdditionalData({ residual: [this.lastResidual] });
  }

  /** Rejects samples that did not converge. */
  checkSample(): boolean {
    return this.lastResidual < 1e-6;
  }

  applyPrediction(prediction: FieldValues): void {
    const p = prediction.displacements;
    for (let i = 0; i < this.n; i++) this.u[i] = Number(p[i]);
    this.lastResidual = this.residual(this.u, this.loads, this.#r);
  }
}
