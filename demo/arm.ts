import { Entity, type InputSignal } from '../lib/index.ts';

/**
 * A simulated 12-joint arm, written in TypeScript: each joint is a pendulum with inertia,
 * viscous friction and gravity the controllers do not model,
 *   I q'' = tau - b q' - m g l sin(q).
 * Its state is an output without dependencies; increment() pulls the torque for the tick
 * and integrates (semi-implicit Euler), as a robot device entity does in dynamic-graph.
 */
export class Arm extends Entity {
  static readonly JOINTS = 12;
  readonly q = new Float32Array(Arm.JOINTS);
  readonly dq = new Float32Array(Arm.JOINTS);
  readonly torque: InputSignal;
  readonly inertia = 0.6;
  readonly friction = 0.4;
  readonly gravity = 2.5; // m g l

  constructor(name = 'arm') {
    super(name);
    this.torque = this.addInput('sin_torque', { shape: [1, Arm.JOINTS] });
    this.addOutput('sout_position', { shape: [1, Arm.JOINTS], compute: (out) => out.set(this.q) });
    this.addOutput('sout_velocity', { shape: [1, Arm.JOINTS], compute: (out) => out.set(this.dq) });
  }

  /** Advances the arm by dt seconds under the torque of tick t. */
  increment(t: number, dt: number): void {
    this.torque.recompute(t);
    const tau = this.torque.value;
    for (let i = 0; i < Arm.JOINTS; i++) {
      const acc = (tau[i] - this.friction * this.dq[i] - this.gravity * Math.sin(this.q[i])) / this.inertia;
      this.dq[i] += dt * acc;
      this.q[i] += dt * this.dq[i];
    }
  }
}

/** The reference: each joint follows a sine of its own phase. Fills position and velocity targets. */
export class Trajectory extends Entity {
  constructor(name: string, period: number, amplitude = 0.8) {
    super(name);
    const w = (2 * Math.PI) / period;
    this.addOutput('sout_position', {
      shape: [1, Arm.JOINTS],
      compute: (out, tick) => {
        const s = tick * 0.001;
        for (let i = 0; i < Arm.JOINTS; i++) out[i] = amplitude * Math.sin(w * s + (i * Math.PI) / 6);
      },
    });
    this.addOutput('sout_velocity', {
      shape: [1, Arm.JOINTS],
      compute: (out, tick) => {
        const s = tick * 0.001;
        for (let i = 0; i < Arm.JOINTS; i++) out[i] = amplitude * w * Math.cos(w * s + (i * Math.PI) / 6);
      },
    });
  }
}
