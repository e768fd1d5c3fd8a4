"""DeepPhysX's beam on MuJoCo (the pip wheel): the same model and fields as torchloop's own
`torchloop:beam` environment (lib/data/examples/beam.ts), so that a Python client and the
WASM build in Node fill one database."""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np

from .environment import Environment

DEFAULTS = {"count": [8, 3, 3], "spacing": 0.04, "young": 1e5, "poisson": 0.3, "damping": 0.05, "mass": 1.0, "timestep": 0.004}


def _num(v: float) -> str:
    """A number as JavaScript's String() writes it (the MJCF text must match to the byte)."""
    v = float(v)
    if v == int(v) and abs(v) < 1e21:
        return str(int(v))
    r = repr(v)
    if "e" in r:
        m, e = r.split("e")
        r = f"{m}e{int(e):+d}" if int(e) > 0 else f"{m}e{int(e)}"
    return r


def beam_mjcf(p: dict) -> str:
    nx, ny, nz = (int(c) for c in p["count"])
    s = _num(p["spacing"])
    return "\n".join([
        '<mujoco model="torchloop-beam">',
        f'  <option timestep="{_num(p["timestep"])}" gravity="0 0 0" integrator="discrete" jacobian="sparse"/>',
        "  <worldbody>",
        f'    <flexcomp name="beam" type="grid" dim="3" count="{nx} {ny} {nz}" spacing="{s} {s} {s}" pos="{_num(((nx - 1) * p["spacing"]) / 2)} 0 0" radius="0.001" mass="{_num(p["mass"])}">',
        '      <contact contype="0" conaffinity="0" selfcollide="none"/>',
        '      <edge equality="false"/>',
        f'      <elasticity young="{_num(p["young"])}" poisson="{_num(p["poisson"])}" damping="{_num(p["damping"])}"/>',
        f'      <pin gridrange="0 0 0 0 {ny - 1} {nz - 1}"/>',
        "    </flexcomp>",
        "  </worldbody>",
        "</mujoco>",
        "",
    ])


class BeamEnvironment(Environment):
    """An elastic beam fixed at x = 0; each sample loads a random surface patch with a random
    force and steps until every node is still. Fields: forces [nodes, 3] (N) and
    displacements [nodes, 3] (m); additional settle_steps and solve_ms."""

    def __init__(self, seed: int = 0, forceMax: float = 4.0, patchRadius: float = 0.05, settleVelocity: float = 1e-3,
                 minSteps: int = 10, maxSteps: int = 2000, **options):
        params = {k: options.pop(k) for k in list(options) if k in DEFAULTS}
        super().__init__(seed, **options)
        self.params = {**DEFAULTS, **params}
        c = self.params["count"]
        self.nodes = int(c[0]) * int(c[1]) * int(c[2])
        self.force_max, self.patch_radius = float(forceMax), float(patchRadius)
        self.settle_velocity, self.min_steps, self.max_steps = float(settleVelocity), int(minSteps), int(maxSteps)
        self.forces = np.zeros(self.nodes * 3)
        self.displacements = np.zeros(self.nodes * 3)
        self.last_problem = ""
        self.last_steps = 0
        self.last_solve_ms = 0.0

    @property
    def length(self) -> float:
        return (self.params["count"][0] - 1) * self.params["spacing"]

    def create(self) -> None:
        import mujoco

        self._mj = mujoco
        self.model = mujoco.MjModel.from_xml_string(beam_mjcf(self.params))
        self.data = mujoco.MjData(self.model)
        mujoco.mj_forward(self.model, self.data)
        self.rest = self.data.flexvert_xpos.reshape(-1).copy()
        self.vert_body = self.model.flex_vertbodyid.copy()
        r = self.rest.reshape(-1, 3)
        eps = 1e-6 * self.params["spacing"]
        hi, lo = r.max(axis=0), r.min(axis=0)
        self.surface = [v for v in range(self.nodes) if self.vert_body[v] > 0 and (
            any(r[v, k] > hi[k] - eps for k in range(3)) or any(r[v, k] < lo[k] + eps for k in (1, 2)))]
        self.define_training_fields([("forces", (self.nodes, 3)), ("displacements", (self.nodes, 3))])
        self.define_additional_fields([("settle_steps", (1,)), ("solve_ms", (1,))])

    def draw_forces(self) -> None:
        r = self.rest.reshape(-1, 3)
        centre = self.surface[int(self.random.integers(len(self.surface)))]
        patch = [v for v in self.surface if np.linalg.norm(r[v] - r[centre]) <= self.patch_radius]
        d = self.random.normal(size=3)
        d = d / (np.linalg.norm(d) or 1.0) * self.force_max * self.random.uniform(0.1, 1.0) / len(patch)
        self.forces[:] = 0
        for v in patch:
            self.forces[3 * v:3 * v + 3] = d

    def solve(self, forces: Sequence[float] = None) -> bool:
        """Applies forces [nodes * 3] from rest and steps until the beam settles (the solver)."""
        mj, m, d = self._mj, self.model, self.data
        f = self.forces if forces is None else np.asarray(forces, dtype=float)
        t0 = time.perf_counter()
        mj.mj_resetData(m, d)
        for v in range(self.nodes):
            b = self.vert_body[v]
            if b > 0:
                d.xfrc_applied[b, :3] = f[3 * v:3 * v + 3]
        steps, settled, finite = 0, False, True
        while steps < self.max_steps:
            mj.mj_step(m, d)
            steps += 1
            if steps < self.min_steps:
                continue
            fastest = float(np.max(np.abs(d.qvel)))
            if not math.isfinite(fastest):
                finite = False
                break
            if fastest < self.settle_velocity:
                settled = True
                break
        self.displacements[:] = d.flexvert_xpos.reshape(-1) - self.rest
        finite = finite and bool(np.all(np.isfinite(self.displacements)))
        self.last_steps = steps
        self.last_solve_ms = (time.perf_counter() - t0) * 1e3
        far = float(np.max(np.abs(self.displacements))) if finite else math.inf
        self.last_problem = (f"blew up after {steps} steps" if not finite or far > self.length
                             else "" if settled else f"did not settle in {self.max_steps} steps")
        return self.last_problem == ""

    def step(self) -> None:
        self.draw_forces()
        if self.solve():
            self.set_training_data(forces=self.forces, displacements=self.displacements)
            self.set_additional_data(settle_steps=[self.last_steps], solve_ms=[self.last_solve_ms])

    def check_sample(self) -> bool:
        return self.last_problem == ""
