// Graphs with a MuJoCo plant that ControlLoop tests build in the loop's thread.
import { MujocoEntity, type MujocoEntityOptions } from '../../lib/index.ts';

/** A plant ticked alone, its time shared (computed once before the loop starts). */
async function plant(options: MujocoEntityOptions, init?: (e: MujocoEntity) => void) {
  const e = await MujocoEntity.load('arm', options);
  init?.(e);
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

/** The arm of test/sim/mujoco.test.ts, ctrl in, its time out. */
export const arm = (options: { model: string }) => plant({ model: options.model, substeps: 2 });

/** The same arm under PD gains that make MuJoCo diverge within a few steps. */
export const diverging = (options: { model: string }) =>
  plant({ model: options.model, control: 'pd', kp: 1e9, kd: 0 }, (e) => (e.input('sin_target').value = [1, -1]));
