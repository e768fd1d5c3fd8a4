// Graphs with a MuJoCo plant that ControlLoop tests build in the loop's thread.
import { MujocoEntity } from '../../lib/index.ts';

/** The arm of test/sim/mujoco.test.ts, ctrl in, its time out. */
export async function arm(options: { model: string }) {
  const e = await MujocoEntity.load('arm', { model: options.model, substeps: 2 });
  const time = e.output('sout_time');
  time.recompute(-1);
  return {
    tick: (t: number) => {
      e.increment(t);
      time.recompute(t);
    },
    dispose: () => e.dispose(),
  };
}

/** The same arm under PD gains that make MuJoCo diverge within a few steps. */
export async function diverging(options: { model: string }) {
  const e = await MujocoEntity.load('arm', { model: options.model, control: 'pd', kp: 1e9, kd: 0 });
  e.input('sin_target').value = [1, -1];
  const time = e.output('sout_time');
  time.recompute(-1);
  return {
    tick: (t: number) => {
      e.increment(t);
      time.recompute(t);
    },
    dispose: () => e.dispose(),
  };
}
