"""The zoo's Python baselines for `npm run bench` (zoo.ts): each zoo model as users run it in
PyTorch, torch.jit.load then torch.jit.freeze (the plain scripted module where freezing fails:
a model that keeps state in attributes, or calls autograd), one thread, inference mode (autograd
on for a model that needs it). Also exports ONNX files with torch.onnx (what onnxruntime runs).

  python zoo_worker.py time <record.json> <models dir> <steps>  -> one JSON line
  python zoo_worker.py onnx <record.json> <models dir> <out.onnx> -> one JSON line
  python zoo_worker.py aoti <record.json> <package.pt2> <steps>   -> one JSON line (aoti_load_package)
"""
import json
import os
import sys
import time

import torch

torch.set_num_threads(1)


def dec(v):
    if isinstance(v, dict) and "tensor" in v:
        t = v["tensor"]
        dtype = getattr(torch, t["dtype"])
        return torch.tensor([float("nan") if x is None else x for x in t["data"]], dtype=dtype).reshape(t["shape"])
    if isinstance(v, dict) and "tuple" in v:
        return tuple(dec(x) for x in v["tuple"])
    if isinstance(v, dict) and "dict" in v:
        return {k: dec(x) for k, x in v["dict"].items()}
    if isinstance(v, list):
        return [dec(x) for x in v]
    return v


def main():
    cmd, record, models = sys.argv[1], json.load(open(sys.argv[2])), sys.argv[3]
    if cmd == "aoti":
        args = [dec(a) for a in record["calls"][0]["args"]]
        run = torch._inductor.aoti_load_package(models)
        timed(run, args, int(sys.argv[4]), "aoti_load_package", torch.inference_mode)
        return
    m = torch.jit.load(os.path.join(models, record["file"]), map_location="cpu").eval()
    args = [dec(a) for a in record["calls"][0]["args"]]
    if cmd == "onnx":
        try:
            kwargs = {"dynamo": False} if int(torch.__version__.split(".")[0]) >= 2 else {}
            names = [f"in{i}" for i in range(len(args))]
            torch.onnx.export(m, tuple(args), sys.argv[4], input_names=names, opset_version=17, **kwargs)
            print(json.dumps({"ok": True, "inputs": names}))
        except Exception as e:
            print(json.dumps({"ok": False, "why": (str(e).strip().split("\n") or ["?"])[0][:200]}))
        return
    steps = int(sys.argv[4])
    variant = "torch.jit (frozen)"
    run = m
    if not record["grad"]:
        try:
            frozen = torch.jit.freeze(m)
            with torch.inference_mode():
                frozen(*args)
            run = frozen
        except Exception as e:
            variant = f"torch.jit (not frozen: {str(e).strip().splitlines()[0][:80]})"
    else:
        variant = "torch.jit (autograd on)"
    ctx = torch.enable_grad if record["grad"] else torch.inference_mode
    timed(run, args, steps, variant, ctx)


def timed(run, args, steps, variant, ctx):
    us = []
    with ctx():
        for _ in range(min(200, steps)):
            run(*args)
        for _ in range(steps):
            t0 = time.perf_counter_ns()
            run(*args)
            us.append((time.perf_counter_ns() - t0) / 1000)
    us.sort()
    print(json.dumps({"variant": variant, "p50": us[len(us) // 2], "p99": us[min(len(us) - 1, int(len(us) * 0.99))], "n": steps}))


main()
