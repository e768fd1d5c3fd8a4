"""mj_step through MuJoCo's Python bindings (the pip wheel, 3.14), holding given joint angles
under PD as scripts/bench/mjstep_floor.c and sim.ts do. Prints JSON: each step's microseconds.

  python mjstep.py <model.xml> <steps> <warmup> <kp,...> <kd,...> <target,...>
"""
import json
import sys
import time

import mujoco
import numpy as np

path, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
kp, kd, target = (np.array([float(x) for x in a.split(",")]) for a in sys.argv[4:7])
m = mujoco.MjModel.from_xml_path(path)
d = mujoco.MjData(m)
jq = np.array([m.jnt_qposadr[m.actuator_trnid[i, 0]] for i in range(m.nu)])
jv = np.array([m.jnt_dofadr[m.actuator_trnid[i, 0]] for i in range(m.nu)])
us = []
for s in range(warmup + steps):
    d.ctrl[:] = (target - d.qpos[jq]) * kp - d.qvel[jv] * kd
    t0 = time.perf_counter()
    mujoco.mj_step(m, d)
    t1 = time.perf_counter()
    if s >= warmup:
        us.append((t1 - t0) * 1e6)
print(json.dumps({"mujoco": mujoco.__version__, "z": float(d.qpos[2]), "step_us": us}))
