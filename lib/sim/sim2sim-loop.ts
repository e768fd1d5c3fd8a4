/**
 * The sim2sim graph as a ControlLoop builds it, in the loop's thread: one loop tick is one
 * policy tick. After `ticks` policy ticks it stops advancing (the loop keeps its pace until
 * stop()), so a realtime run simulates exactly the time asked for. Its report's wallSeconds
 * spans the ticks it ran.
 */
import { build as buildSim2Sim, type Sim2SimOptions } from './sim2sim.ts';

export async function build(options: Sim2SimOptions & { ticks: number }) {
  const s = await buildSim2Sim(options);
  let done = 0, first = 0, last = 0;
  // The shared signals are read once before the first tick: the start state (the policy's
  // output already holds its warmup's; running it here would move its LSTM state).
  for (const name of ['sout_base_pos', 'sout_geom_pose', 'sout_joint_pos']) s.sim.output(name).recompute(-1);
  return {
    tick: (t: number) => {
      if (done >= options.ticks) return;
      if (done === 0) first = performance.now();
      s.tick(t);
      if (++done === options.ticks) last = performance.now();
      for (const name of ['sout_base_pos', 'sout_geom_pose', 'sout_joint_pos']) s.sim.output(name).recompute(t);
    },
    // Wall time from the first policy tick's start to the last one's end, plus the last period.
    report: () => ({ ...s.report(), wallSeconds: done ? ((done === options.ticks ? last : performance.now()) - first) / 1000 + s.config.simulationDt * s.config.controlDecimation : 0, trajectory: options.record ? s.trajectory() : undefined }),
    dispose: () => s.dispose(),
  };
}
