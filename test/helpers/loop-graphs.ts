// Graphs for test/realtime/control-loop.test.ts, built in a ControlLoop's thread.
import path from 'node:path';
import { Entity, TorchEntity, plug } from '../../lib/index.ts';
import { FIXTURES } from './fixtures.ts';

/** A writer whose 256-vector output holds its tick number in every element, times a shared gain. */
export function counter() {
  const e = new Entity('writer');
  const gain = e.addInput('sin_gain', { shape: [1] });
  gain.value = [1];
  const out = e.addOutput('sout_vec', {
    shape: [256],
    compute: (v, t) => {
      gain.recompute(t);
      const g = gain.value[0];
      for (let i = 0; i < v.length; i++) v[i] = t * g;
    },
  });
  out.recompute(-1);
  return out;
}

/** Fails at tick 20, inside entity 'bad', signal 'sout_x'. */
export function failing() {
  const e = new Entity('bad');
  const out = e.addOutput('sout_x', {
    shape: [1],
    compute: (v, t) => {
      if (t === 20) throw new Error('the sensor went away');
      v[0] = t;
    },
  });
  out.recompute(-1);
  return { tick: (t: number) => out.recompute(t) };
}

/** A tick that overruns: it busy-waits `ms` from tick 5 on. */
export function slow(options: { ms: number; entered?: Int32Array }) {
  const e = new Entity('slow');
  const out = e.addOutput('sout_t', {
    shape: [1],
    compute: (v, t) => {
      if (t >= 5) {
        // Tells the test (a SharedArrayBuffer it passed) that the loop thread is inside the tick.
        if (options.entered) Atomics.store(options.entered, 0, 1);
        const until = performance.now() + options.ms;
        while (performance.now() < until) {
          // a stuck computation
        }
      }
      v[0] = t;
    },
  });
  out.recompute(-1);
  return out;
}

/** The PD controller (a TorchEntity) driving a point mass: the realtime path with a model. */
export function pd() {
  const c = new TorchEntity('pd');
  c.loadModel(path.join(FIXTURES, 'script_pd_controller.pt'));
  for (const s of ['sin_kp', 'sin_kd', 'sin_position', 'sin_velocity', 'sin_des_position', 'sin_des_velocity']) c.addInput(s, { shape: [s.includes('_k') ? 1 : 12] });
  c.input('sin_kp').value = [5];
  c.input('sin_kd').value = [1];
  c.input('sin_des_position').value = new Float32Array(12).fill(0.5);
  c.input('sin_des_velocity').value = new Float32Array(12);
  const plant = new Entity('plant');
  const q = new Float32Array(12), dq = new Float32Array(12);
  const tau = plant.addInput('sin_torque', { shape: [12] });
  plant.addOutput('sout_position', { shape: [12], compute: (v) => v.set(q) });
  plant.addOutput('sout_velocity', { shape: [12], compute: (v) => v.set(dq) });
  c.addOutput('sout_torque');
  plug(plant.signal('sout_position'), c.signal('sin_position'));
  plug(plant.signal('sout_velocity'), c.signal('sin_velocity'));
  plug(c.signal('sout_torque'), tau);
  c.warmup({ minRuns: 5, maxRuns: 50 });
  plant.output('sout_position').recompute(-1);
  return {
    tick: (t: number) => {
      tau.recompute(t);
      const u = tau.value;
      for (let i = 0; i < 12; i++) {
        dq[i] += 0.001 * u[i];
        q[i] += 0.001 * dq[i];
      }
    },
    dispose: () => c.dispose(),
  };
}
