/**
 * The demo's graph, built in whichever thread ticks it (a ControlLoop's, or the main thread
 * for --host spin): the simulated arm (arm.ts), a reference trajectory, and a TorchScript
 * controller (dg_pytorch's PD controller, or an MLP policy trained to imitate it) plugged
 * together. Each tick: the arm pulls the torque for t (which pulls the controller, which
 * pulls the arm's state and the reference), then integrates. A monitor keeps the tracking
 * error per second without allocating.
 */
import path from 'node:path';
import { Entity, TorchEntity, plug } from '../lib/index.ts';
import { Arm, Trajectory } from './arm.ts';

export interface ArmGraphOptions {
  policy?: 'pd' | 'mlp';
  hz?: number;
  plan?: boolean;
  /** Seconds of tracking error kept (one RMS per second). */
  seconds?: number;
}

export function build(options: ArmGraphOptions = {}) {
  const hz = options.hz ?? 1000;
  const models = path.join(import.meta.dirname, 'models');
  const arm = new Arm('arm');
  const reference = new Trajectory('reference', 2.0);
  const controller = new TorchEntity('controller', { plan: options.plan ?? true });
  if (options.policy === 'mlp') {
    controller.loadModel(path.join(models, 'mlp_policy.pt'));
  } else {
    controller.loadModel(path.join(models, 'script_pd_controller.pt'));
    controller.addInput('sin_kp', { shape: [1] }).value = [50];
    controller.addInput('sin_kd', { shape: [1] }).value = [10];
  }
  for (const s of ['sin_position', 'sin_velocity', 'sin_des_position', 'sin_des_velocity']) controller.addInput(s, { shape: [1, 12] });
  controller.addOutput('sout_torque');
  plug(arm.signal('sout_position'), controller.signal('sin_position'));
  plug(arm.signal('sout_velocity'), controller.signal('sin_velocity'));
  plug(reference.signal('sout_position'), controller.signal('sin_des_position'));
  plug(reference.signal('sout_velocity'), controller.signal('sin_des_velocity'));
  plug(controller.signal('sout_torque'), arm.signal('sin_torque'));

  // Tracking error, RMS over joints per second: accumulated in preallocated slots.
  const monitor = new Entity('monitor');
  const rms = new Float64Array(Math.max(1, Math.ceil(options.seconds ?? 3600)));
  const sq = new Float64Array(2); // sum of squares this second, seconds done
  const desired = reference.output('sout_position');
  const error = monitor.addOutput('sout_error', {
    shape: [1],
    compute: (out, t) => {
      desired.recompute(t);
      const d = desired.value;
      let e = 0;
      for (let i = 0; i < 12; i++) e += (d[i] - arm.q[i]) * (d[i] - arm.q[i]);
      out[0] = Math.sqrt(e / 12);
      if (t >= 0) sq[0] += e;
      if (t >= 0 && (t + 1) % hz === 0 && sq[1] < rms.length) {
        rms[sq[1]++] = Math.sqrt(sq[0] / (12 * hz));
        sq[0] = 0;
      }
    },
  });
  const warm = controller.warmup();
  for (const s of ['sout_position', 'sout_velocity'] as const) arm.output(s).recompute(-1);
  reference.output('sout_position').recompute(-1);
  error.recompute(-1);
  controller.resetStats();
  const period = 1 / hz;
  return {
    controller,
    warm,
    tick: (t: number) => {
      arm.increment(t, period);
      error.recompute(t);
    },
    report: () => ({ rmsPerSecond: Array.from(rms.subarray(0, sq[1])), model: controller.latencySummary(), path: controller.planStatus, warmup: warm }),
    dispose: () => {
      for (const e of [controller, arm, reference, monitor]) e.dispose();
    },
  };
}
