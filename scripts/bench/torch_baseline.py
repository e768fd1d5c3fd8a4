#!/usr/bin/python3
"""Python torch.jit baseline for `npm run bench`: per-call latency of a TorchScript forward.

    /usr/bin/python3 torch_baseline.py MODEL.pt STEPS SHAPE [SHAPE...]   (SHAPE like 1x48)

Threads = 1 (like torchloop's default), inference mode, inputs made once; prints one JSON
line with every duration in microseconds.
"""
import json
import sys
import time

import torch

torch.set_num_threads(1)
model_path, steps = sys.argv[1], int(sys.argv[2])
shapes = [[int(d) for d in s.split("x")] for s in sys.argv[3:]]
m = torch.jit.load(model_path).eval()
torch.manual_seed(0)
xs = [torch.randn(*s) * 0.5 for s in shapes]
with torch.inference_mode():
    for _ in range(200 if steps > 1000 else 20):  # warm the profiling executor
        m(*xs)
    durations = []
    clock = time.perf_counter_ns
    for _ in range(steps):
        t0 = clock()
        m(*xs)
        durations.append((clock() - t0) / 1000.0)
print(json.dumps({"torch": torch.__version__, "durations_us": durations}))
