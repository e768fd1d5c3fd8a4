"""The zoo's golden outputs: every model in ../shared/real-models/ (SOURCES.md) run by real
PyTorch on inputs built as SOURCES.md describes, saved as <out>/zoo/<file>.json:
  {"file", "torch", "method", "grad", "calls": [{"args": [...], "result": ...}, ...]}
Values: a tensor is {"tensor": {"shape", "dtype", "data"}}, a tuple {"tuple": [...]}, a dict
{"dict": {...}}, scalars as themselves. Stateful models are called 3 times in a row (their state
carries over: the outputs of later calls check that it does). A model this PyTorch cannot load
gets {"file", "torch", "error"}.

  python scripts/zoo_golden.py <out> [models folder]
"""
import json
import os
import sys

import torch

from torch_values import enc

out = sys.argv[1]
models = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "..", "shared", "real-models")
os.makedirs(os.path.join(out, "zoo"), exist_ok=True)
torch.set_num_threads(1)


def randn(*shape, scale=0.5):
    return torch.randn(*shape) * scale


def first_linear_width(m):
    for k, v in m.state_dict().items():
        if k.endswith("weight") and v.dim() == 2:
            return v.shape[1]
    raise RuntimeError("no Linear")


def allegro_inputs(m):
    g = torch.Generator().manual_seed(7)
    pos = torch.rand(6, 3, generator=g) * 3.0
    d = torch.cdist(pos, pos)
    i, j = torch.nonzero((d < 5.0) & ~torch.eye(6, dtype=torch.bool), as_tuple=True)
    edge_index = torch.stack([i, j]).to(torch.int64)
    atom_types = torch.tensor([0, 1, 0, 1, 0, 1], dtype=torch.int64)
    return [{"pos": pos, "edge_index": edge_index, "atom_types": atom_types}]


# name fragment -> (builder of the arguments, calls, eval with autograd)
BUILDERS = [
    ("go2_motion", lambda m: [randn(1, 48)], 1, False),
    ("g1_motion", lambda m: [randn(1, 47)], 3, False),
    ("h1_motion", lambda m: [randn(1, 41)], 3, False),
    ("adaptation_module", lambda m: [randn(1, 2100)], 1, False),
    ("actuator_net_unitree_go1", lambda m: [randn(1, first_linear_width(m))], 1, False),
    ("anydrive_v3_lstm", lambda m: [randn(12, 1, 2), (randn(2, 12, 8), randn(2, 12, 8))], 1, False),
    ("XBot_policy", lambda m: [randn(1, 705)], 1, False),
    ("base_jit", lambda m: [randn(1, 753), randn(1, 32)], 1, False),
    ("spot_policy", lambda m: [randn(1, 48)], 1, False),
    ("warmstart_locomotion", lambda m: [randn(1, 48)], 1, False),
    ("silero_vad", lambda m: [randn(1, 512, scale=0.1), 16000], 3, False),
    ("NN-MPC", lambda m: [randn(1, 4, 5)], 1, False),
    ("traffic_sign", lambda m: [torch.rand(1, 3, 30, 30) * 2 - 1], 1, False),
    ("Allegro", allegro_inputs, 1, True),
]

for name in sorted(os.listdir(models)):
    if name.endswith(".md"):
        continue
    builder = next((b for b in BUILDERS if b[0] in name), None)
    if builder is None:
        raise SystemExit(f"zoo_golden.py: no input builder for {name}")
    record = {"file": name, "torch": torch.__version__.split("+")[0], "method": "forward", "grad": builder[3]}
    try:
        m = torch.jit.load(os.path.join(models, name), map_location="cpu")
    except Exception as e:  # kept: the tests then expect torchloop to refuse it too, or say why not
        record["error"] = str(e).strip().split("\n")[0]
    else:
        m.eval()
        torch.manual_seed(0)
        calls = []
        for _ in range(builder[2]):
            args = builder[1](m)
            saved = enc(args)  # before the call: a model may write into its inputs
            with torch.set_grad_enabled(builder[3]):
                result = m(*args)
            calls.append({"args": saved, "result": enc(result)})
        record["calls"] = calls
    with open(os.path.join(out, "zoo", name + ".json"), "w") as f:
        json.dump(record, f)
    print(f"{name}: {'error: ' + record['error'][:100] if 'error' in record else str(len(record['calls'])) + ' call(s)'}")
