"""What PyTorch computes on the GPU, for native/tools/gpu_check.cc to be checked against, and
PyTorch's own CUDA-graph replay timed as the reference. Run by scripts/gpu/run.sh on the GPU
machine with that machine's PyTorch (its libtorch is the one gpu_check is built against).

    python3 scripts/gpu/reference.py WORK_DIR MODELS_DIR [--device cuda] [--iters 20000]

MODELS_DIR holds the zoo files it needs (go2, g1, the traffic-sign CNN) and, when present,
mlp_m2.pt as PyTorch 2.13 saved it (to check that this PyTorch loads 2.13's files). M1, M2, M3
and a model that cannot be captured are made here, by this PyTorch.
"""
import os
import sys
import time
from typing import List

import numpy as np
import torch

work, models = sys.argv[1], sys.argv[2]
device = sys.argv[sys.argv.index("--device") + 1] if "--device" in sys.argv else "cuda"
iters = int(sys.argv[sys.argv.index("--iters") + 1]) if "--iters" in sys.argv else 20000
os.makedirs(work, exist_ok=True)
torch.manual_seed(0)
torch.set_num_threads(1)
print(f"torch {torch.__version__}, cuda {torch.cuda.is_available()} ({torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-'})")


class PD(torch.nn.Module):  # M1: dg_pytorch's PD controller
    def forward(self, kp, kd, position, velocity, des_position, des_velocity):
        return kp * (des_position - position) + kd * (des_velocity - velocity)


def mlp(sizes: List[int], act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers)


class Branchy(torch.nn.Module):  # data-dependent control flow: a CUDA graph cannot capture it
    def forward(self, x):
        if bool(x.sum() > 0):
            return x * 2.0
        return x - 1.0


def save(module, name):
    p = os.path.join(work, name)
    torch.jit.script(module).save(p)
    return p


cases = []  # (name, file, steps, shapes, latency, nocapture)
cases.append(("m1", save(PD(), "m1.pt"), 3, [[12]] * 6, True, False))
cases.append(("m2", save(mlp([48, 256, 256, 12], torch.nn.Tanh), "m2.pt"), 3, [[1, 48]], True, False))
cases.append(("m3", save(mlp([512, 1024, 1024, 512], torch.nn.ReLU), "m3.pt"), 3, [[64, 512]], True, False))
cases.append(("branch", save(Branchy(), "branch.pt"), 3, [[1, 8]], False, True))
m2_213 = os.path.join(models, "mlp_m2.pt")
if os.path.exists(m2_213):
    try:
        torch.jit.load(m2_213)
        print(f"PyTorch {torch.__version__} loads mlp_m2.pt as PyTorch 2.13 saved it: yes")
        cases.append(("m2_213", os.path.abspath(m2_213), 3, [[1, 48]], False, False))
    except Exception as e:  # noqa: BLE001
        print(f"PyTorch {torch.__version__} loads mlp_m2.pt as PyTorch 2.13 saved it: NO ({e})")
zoo = {"go2": ("unitreerobotics__unitree_rl_gym__go2_motion.pt", [[1, 48]], 3, True),
       "g1": ("unitreerobotics__unitree_rl_gym__g1_motion.pt", [[1, 47]], 6, False),
       "cnn": ("subhamyadav580__TrafficSignRecognition__traffic_sign_cpu.pt", [[1, 3, 30, 30]], 3, False)}
for name, (file, shapes, steps, latency) in zoo.items():
    p = os.path.join(models, file)
    if os.path.exists(p):
        cases.append((name, os.path.abspath(p), steps, shapes, latency, False))

lines = []
for name, file, steps, shapes, latency, nocapture in cases:
    m = torch.jit.load(file, map_location=device).eval()
    ins, outs = [], []
    with torch.inference_mode():
        for s in range(steps):
            xs = [torch.randn(*shape) * 0.5 for shape in shapes]
            ins += [x.numpy().astype(np.float32).tobytes() for x in xs]
            y = m(*[x.to(device) for x in xs])
            while isinstance(y, (tuple, list)):
                y = y[0]
            outs.append(y.float().cpu().contiguous().numpy().tobytes())
    with open(os.path.join(work, f"{name}.in.bin"), "wb") as f:
        f.write(b"".join(ins))
    with open(os.path.join(work, f"{name}.out.bin"), "wb") as f:
        f.write(b"".join(outs))
    if latency:
        open(os.path.join(work, f"{name}.latency"), "w").close()
    if nocapture:
        open(os.path.join(work, f"{name}.nocapture"), "w").close()
    lines.append(f"{name}|{file}|{steps}|{';'.join('x'.join(map(str, s)) for s in shapes)}")
with open(os.path.join(work, "cases.txt"), "w") as f:
    f.write("\n".join(lines) + "\n")

# Training: M2, Adam lr 1e-3, MSE, batch 16, 100 steps, PyTorch's own loop on the device.
steps, batch = 100, 16
train_file = save(mlp([48, 256, 256, 12], torch.nn.Tanh), "m2_train.pt")
m = torch.jit.load(train_file, map_location=device)
m.train()
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
xs = torch.randn(steps, batch, 48)
ys = torch.randn(steps, batch, 12)
losses = []
for s in range(steps):
    opt.zero_grad()
    loss = torch.nn.functional.mse_loss(m(xs[s].to(device)), ys[s].to(device))
    loss.backward()
    opt.step()
    losses.append(loss.item())
xs.numpy().astype(np.float32).tofile(os.path.join(work, "train.x.bin"))
ys.numpy().astype(np.float32).tofile(os.path.join(work, "train.y.bin"))
np.array(losses, dtype=np.float64).tofile(os.path.join(work, "train.loss.bin"))
torch.cat([p.detach().cpu().reshape(-1) for _, p in m.named_parameters()]).numpy().tofile(os.path.join(work, "train.params.bin"))
with open(os.path.join(work, "train.txt"), "w") as f:
    f.write(f"{train_file}|{steps}|0.001|{batch}|48|12")
print(f"training reference: loss {losses[0]:.5f} -> {losses[-1]:.5f} over {steps} steps")

# PyTorch's own CUDA-graph replay of the same step: copy in from pinned memory, the model,
# copy out to pinned memory, captured as one graph; each replay is followed by a sync.
if device.startswith("cuda"):
    for name, file, steps, shapes, latency, nocapture in cases:
        if not latency:
            continue
        m = torch.jit.load(file, map_location=device).eval()
        with torch.inference_mode():
            pin = [torch.randn(*s).pin_memory() for s in shapes]
            dev = [torch.empty(*s, device=device) for s in shapes]
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(5):
                    for d, p in zip(dev, pin):
                        d.copy_(p, non_blocking=True)
                    y = m(*dev)
            torch.cuda.current_stream().wait_stream(side)
            out = torch.empty(y.shape, pin_memory=True)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                for d, p in zip(dev, pin):
                    d.copy_(p, non_blocking=True)
                y = m(*dev)
                out.copy_(y, non_blocking=True)
            stream = torch.cuda.current_stream()
            for _ in range(2000):
                g.replay()
                stream.synchronize()
            ns = []
            for _ in range(iters):
                t0 = time.perf_counter_ns()
                g.replay()
                stream.synchronize()
                ns.append(time.perf_counter_ns() - t0)
            ns.sort()
            print(f"time  {name:<6} {'PyTorch torch.cuda.CUDAGraph replay (Python)':<44} p50 {ns[len(ns) // 2] / 1000:9.2f} us  p99 {ns[len(ns) * 99 // 100] / 1000:9.2f} us")
            # And PyTorch's eager call on the GPU (H2D, forward, D2H), for scale.
            ns = []
            for i in range(min(iters, 5000)):
                t0 = time.perf_counter_ns()
                out.copy_(m(*[p.to(device, non_blocking=True) for p in pin]))
                ns.append(time.perf_counter_ns() - t0)
            ns.sort()
            print(f"time  {name:<6} {'PyTorch torch.jit call on the GPU (Python)':<44} p50 {ns[len(ns) // 2] / 1000:9.2f} us  p99 {ns[len(ns) * 99 // 100] / 1000:9.2f} us")
