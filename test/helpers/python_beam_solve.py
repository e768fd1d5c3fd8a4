"""Solves the beam with the pip wheel's MuJoCo for forces read as JSON on stdin; prints the
MJCF, the displacements and the steps (test/data/python-client.test.ts)."""
import json
import sys

from torchloop_env.beam import BeamEnvironment, beam_mjcf

env = BeamEnvironment(seed=0)
env.create()
forces = json.load(sys.stdin)
ok = env.solve(forces)
print(json.dumps({"xml": beam_mjcf(env.params), "ok": ok, "steps": env.last_steps, "displacements": env.displacements.tolist(), "surface": env.surface}))
