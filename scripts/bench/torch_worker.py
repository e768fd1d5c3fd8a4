"""PyTorch baselines for `npm run bench`, as a long-lived worker so that its rounds interleave
with torchloop's and onnxruntime's. Run by each PyTorch the bench compares with (2.13 from the
project's venv, 1.13 as Debian's /usr/bin/python3). One thread, inference mode.

Protocol: one JSON object per line on stdin, one JSON line back on stdout.
  {"cmd": "info"} -> {"torch", "blas", "cpu", "variants"}
  {"cmd": "prepare", "id", "file", "kind": "pd"|"mlp", "inputs": [{"shape", "data"}]}
      -> {"variants": {name: "ok" | "why it cannot run"}, "compileSeconds"?}
  {"cmd": "round", "id", "variant", "n"} -> {"us": [durations]}
  {"cmd": "output", "id", "variant"} -> {"data": [...]}
Variants: "eager" (the nn.Module rebuilt from the file's weights), "jit" (torch.jit.load then
torch.jit.freeze), "compile" (torch.compile of the eager module, PyTorch 2.x), "aoti"
(torch._inductor.aoti_load_package of the .pt2 that setup compiled, PyTorch 2.x).
"""
import json
import os
import re
import subprocess
import sys
import time

import torch

torch.set_num_threads(1)
MAJOR = int(torch.__version__.split(".")[0])
models = {}


def kernels():
    """The BLAS libtorch calls and the kernels it picks on this CPU, from the libraries' own words."""
    cfg = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", cfg)
    blas = blas.group(1) if blas else "?"
    probe = "import torch; torch.set_num_threads(1); a = torch.randn(64, 64); a @ a"
    env = dict(os.environ, MKL_VERBOSE="1", ONEDNN_VERBOSE="1", DNNL_VERBOSE="1")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True).stdout
    m = re.search(r"MKL_VERBOSE oneMKL ([\d.]+[^\n]*?) Product build \d+ for Intel\(R\) 64 architecture (.*?),", out)
    if blas == "mkl" and m:
        blas = f"MKL {m.group(1).split()[0]} ({m.group(2)})"
    elif blas == "generic":
        blas = "system BLAS (libblas.so.3)"
    cap = torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else re.search(r"CPU capability usage: (\w+)", cfg).group(1)
    return blas, cap


def eager_of(kind, scripted):
    if kind == "pd":
        def pd(kp, kd, p, v, dp, dv):
            return kp * (dp - p) + kd * (dv - v)
        return pd
    # An nn.Sequential: rebuild each child (Linear, Tanh, ReLU, ...) and load the weights.
    layers = []
    for _, child in scripted.named_children():
        kindname = child.original_name
        if kindname == "Linear":
            w = child.weight
            layers.append(torch.nn.Linear(w.shape[1], w.shape[0]))
        else:
            layers.append(getattr(torch.nn, kindname)())
    eager = torch.nn.Sequential(*layers).eval()
    eager.load_state_dict(scripted.state_dict())
    return eager


def prepare(msg):
    scripted = torch.jit.load(msg["file"]).eval()
    xs = [torch.tensor(i["data"], dtype=torch.float32).reshape(i["shape"]) for i in msg["inputs"]]
    variants, status = {}, {}
    eager = eager_of(msg["kind"], scripted)
    variants["eager"] = eager
    variants["jit"] = torch.jit.freeze(scripted)
    status.update(eager="ok", jit="ok")
    reply = {}
    if MAJOR >= 2 and not msg.get("compile", True):
        status["compile"] = "skipped (--no-compile)"
    elif MAJOR >= 2:
        try:
            compiled = torch.compile(eager)
            t0 = time.time()
            with torch.inference_mode():
                compiled(*xs)
            reply["compileSeconds"] = time.time() - t0
            variants["compile"] = compiled
            status["compile"] = "ok"
        except Exception as e:  # noqa: BLE001: report why, keep the other baselines
            status["compile"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    else:
        status["compile"] = f"torch.compile needs PyTorch 2.x (this is {torch.__version__})"
    # PyTorch's own runner of the AOTInductor package setup made (scripts/make_packages.py).
    if MAJOR >= 2 and msg.get("pt2") and os.path.exists(msg["pt2"]):
        try:
            variants["aoti"] = torch._inductor.aoti_load_package(msg["pt2"])
            status["aoti"] = "ok"
        except Exception as e:  # noqa: BLE001
            status["aoti"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
    with torch.inference_mode():
        for f in variants.values():
            for _ in range(50):  # warm the profiling executor and the caches
                f(*xs)
    models[msg["id"]] = (variants, xs)
    reply["variants"] = status
    return reply


def run_round(msg):
    variants, xs = models[msg["id"]]
    f = variants[msg["variant"]]
    clock = time.perf_counter_ns
    us = []
    with torch.inference_mode():
        f(*xs)
        for _ in range(msg["n"]):
            t0 = clock()
            f(*xs)
            us.append((clock() - t0) / 1000.0)
    return {"us": us}


def output(msg):
    variants, xs = models[msg["id"]]
    with torch.inference_mode():
        out = variants[msg["variant"]](*xs)
        return {"data": (out[0] if isinstance(out, (list, tuple)) else out).flatten().tolist()}


for line in sys.stdin:
    msg = json.loads(line)
    try:
        if msg["cmd"] == "info":
            blas, cap = kernels()
            reply = {"torch": torch.__version__, "blas": blas, "cpu": cap}
        elif msg["cmd"] == "prepare":
            reply = prepare(msg)
        elif msg["cmd"] == "round":
            reply = run_round(msg)
        elif msg["cmd"] == "output":
            reply = output(msg)
        else:
            reply = {"error": f"unknown command {msg['cmd']}"}
    except Exception as e:  # noqa: BLE001: the bench reports it and goes on
        reply = {"error": f"{type(e).__name__}: {e}"}
    sys.stdout.write(json.dumps(reply) + "\n")
    sys.stdout.flush()
