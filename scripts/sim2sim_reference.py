"""The reference for `torchloop sim2sim`: the authors' own loop, run as they wrote it.

Runs unitree_rl_gym's deploy/deploy_mujoco/deploy_mujoco.py (read from the robot files, not
copied) headless with this Python's MuJoCo and PyTorch. Only what needs a screen or a wall
clock is replaced, from outside the script:
  - `mujoco.viewer.launch_passive` returns a stand-in viewer: is_running() is true for the
    requested simulated seconds, and sync(), called after every physics step, records the
    base pose at each policy tick;
  - `time.time` is the simulated clock and `time.sleep` returns at once (no wall-clock pacing);
  - `legged_gym.LEGGED_GYM_ROOT_DIR` is the robot files' folder;
  - `torch.jit.load` wraps the policy to record each action it returns (and, with --timing,
    the time per policy tick: from the sync after one policy call to the sync after the next).
Everything else (the config, the observation, PD control, the policy call) is the script's.

  python scripts/sim2sim_reference.py <robots root> <config name> <seconds> <out.json> [--timing]

Writes { dt, t, pos, quat, action } with one row per policy tick (the tick's physics steps
done, the policy run), and with --timing { tick_us, step_us, policy_us }.
"""
import json
import runpy
import sys
import time
import types

root, config_name, seconds, out_path = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
timing = "--timing" in sys.argv[5:]

import mujoco  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

with open(f"{root}/deploy/deploy_mujoco/configs/{config_name}") as f:
    cfg = yaml.load(f, Loader=yaml.FullLoader)
dt = float(cfg["simulation_dt"])
decimation = int(cfg["control_decimation"])
total_steps = int(round(seconds / dt))

rec = {"dt": dt * decimation, "t": [], "pos": [], "quat": [], "action": []}
tick_us, policy_us, step_us = [], [], []
state = {"steps": 0, "data": None, "last_action": None, "mark": None}

# The simulated clock: the script reads time.time() for its 60 s limit and its pacing.
time_ns_real = time.perf_counter
time.time = lambda: state["steps"] * dt
time.sleep = lambda s: None


class Viewer:
    def __init__(self, m, d):
        state["data"] = d

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False

    def is_running(self):
        return state["steps"] < total_steps

    def sync(self):
        state["steps"] += 1
        if state["steps"] % decimation == 0:
            d = state["data"]
            now = time_ns_real()
            if timing and state["mark"] is not None:
                tick_us.append((now - state["mark"]) * 1e6)
            state["mark"] = now
            rec["t"].append(state["steps"] * dt)
            rec["pos"].append([float(x) for x in d.qpos[0:3]])
            rec["quat"].append([float(x) for x in d.qpos[3:7]])
            rec["action"].append([float(x) for x in state["last_action"]])


viewer = types.ModuleType("mujoco.viewer")
viewer.launch_passive = lambda m, d, **kw: Viewer(m, d)
sys.modules["mujoco.viewer"] = viewer
mujoco.viewer = viewer

legged_gym = types.ModuleType("legged_gym")
legged_gym.LEGGED_GYM_ROOT_DIR = root
sys.modules["legged_gym"] = legged_gym

real_load = torch.jit.load


class Recorded:
    def __init__(self, module):
        self.module = module

    def __call__(self, x):
        t0 = time_ns_real()
        y = self.module(x)
        if timing:
            policy_us.append((time_ns_real() - t0) * 1e6)
        state["last_action"] = y.detach().numpy().reshape(-1).copy()
        return y


torch.jit.load = lambda *a, **kw: Recorded(real_load(*a, **kw))

if timing:
    real_step = mujoco.mj_step

    def timed_step(m, d):
        t0 = time_ns_real()
        real_step(m, d)
        step_us.append((time_ns_real() - t0) * 1e6)

    mujoco.mj_step = timed_step

sys.argv = ["deploy_mujoco.py", config_name]
runpy.run_path(f"{root}/deploy/deploy_mujoco/deploy_mujoco.py", run_name="__main__")

if timing:
    rec["tick_us"], rec["step_us"], rec["policy_us"] = tick_us, step_us, policy_us
rec["versions"] = {"mujoco": mujoco.__version__, "torch": torch.__version__, "threads": torch.get_num_threads()}
import os  # noqa: E402
os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
with open(out_path, "w") as f:
    json.dump(rec, f)
print(f"sim2sim reference: {len(rec['t'])} policy ticks, {seconds} s, ends at x={rec['pos'][-1][0]:.4f} y={rec['pos'][-1][1]:.4f} z={rec['pos'][-1][2]:.4f}")
