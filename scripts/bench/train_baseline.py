"""Python PyTorch training-loop baseline for `npm run bench`: samples per second with Adam.

    PYTHON train_baseline.py MODEL.pt IN OUT BATCH STEPS THREADS

Runs the same loop twice: on the TorchScript module (torch.jit.load, what torchloop trains)
and on an eager nn.Sequential with the same weights. Prints one JSON line.
"""
import json
import sys
import time

import torch

model_path, d_in, d_out, batch, steps, threads = sys.argv[1], *map(int, sys.argv[2:])
torch.set_num_threads(threads)
torch.manual_seed(0)
x = torch.randn(batch, d_in)
y = torch.randn(batch, d_out)


def run(m):
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    for _ in range(max(5, steps // 10)):  # warm up (the profiling executor, allocator)
        loss = torch.nn.functional.mse_loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = torch.nn.functional.mse_loss(m(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (time.perf_counter() - t0)


scripted = torch.jit.load(model_path)
scripted.train()
eager_layers = []
for name, module in torch.jit.load(model_path).named_children():
    pass
# The eager twin: rebuild the Sequential from the scripted module's parameters.
params = dict(torch.jit.load(model_path).named_parameters())
linear_ids = sorted({int(k.split(".")[0]) for k in params})
layers = []
for i, idx in enumerate(linear_ids):
    w, b = params[f"{idx}.weight"], params[f"{idx}.bias"]
    lin = torch.nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        lin.weight.copy_(w)
        lin.bias.copy_(b)
    layers.append(lin)
    if i < len(linear_ids) - 1:
        layers.append(torch.nn.Tanh() if "m2" in model_path else torch.nn.ReLU())
eager = torch.nn.Sequential(*layers)
print(json.dumps({"torch": torch.__version__, "scripted": run(scripted), "eager": run(eager)}))
