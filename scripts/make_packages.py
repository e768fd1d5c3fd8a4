"""AOTInductor packages (.pt2) made at setup by the project's PyTorch 2.x, as the .pt fixtures
are: M1, M2, M3 and every zoo model whose TorchScript torch.export's converter takes, each
compiled by python/compile_pt2.py (torchloop compile's own code: freezing, max-autotune's CPP
GEMM, checked against the .pt before it is written). Beside them, expected.json holds what
PyTorch's own runner (torch._inductor.aoti_load_package) returns on fixed inputs, and for a
model that does not convert, the reason.

    PYTHON scripts/make_packages.py FIXTURES_DIR ZOO_DIR [--jobs N]

Compiles run in N processes (default 2): each compile is mostly one thread of Python and g++.
"""
import glob
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))


def models(fixtures, zoo):
    out = [
        ("m1", os.path.join(fixtures, "script_pd_controller.pt"), ["12"] * 6),
        ("m2", os.path.join(fixtures, "mlp_m2.pt"), ["1x48"]),
        ("m3", os.path.join(fixtures, "mlp_m3.pt"), ["64x512"]),
    ]
    for f in sorted(glob.glob(os.path.join(fixtures, "zoo", "*.json"))):
        d = json.load(open(f))
        args = d["calls"][0]["args"]
        if not all(isinstance(a, dict) and "tensor" in a for a in args):
            continue  # tuples (LSTM state) and ints (a sample rate) are not tensors: the converter's exports take tensors
        shapes = ["x".join(map(str, a["tensor"]["shape"])) + ":" + a["tensor"]["dtype"] for a in args]
        out.append((d["file"], os.path.join(zoo, d["file"]), shapes))
    return out


def work(fixtures, items):
    """Compiles `items` in this process; returns their records."""
    import torch
    import compile_pt2

    records = {}
    for name, src, shapes in items:
        dst = os.path.join(fixtures, "pt2", name + ".pt2")
        t0 = time.time()
        if not os.path.exists(src):
            continue
        try:
            if os.path.exists(dst):
                os.unlink(dst)
            rep = compile_pt2.compile_package(dst, pt=src, input_specs=shapes)
        except compile_pt2.CompileError as e:
            records[name] = {"source": os.path.basename(src), "inputs": shapes, "error": str(e)}
            print(f"  {name}: does not convert ({str(e)[:120]}...)", flush=True)
            continue
        # PyTorch's own runner on fixed inputs: what torchloop must return.
        g = torch.Generator().manual_seed(1)
        xs = [compile_pt2.sample(torch, *compile_pt2.parse_input(s), g) for s in shapes]
        with torch.no_grad():
            ys = compile_pt2.flatten(torch._inductor.aoti_load_package(dst)(*xs), [])
        tolist = lambda t: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": t.flatten().tolist()}
        records[name] = {"source": os.path.basename(src), "inputs": [tolist(x) for x in xs], "outputs": [tolist(y) for y in ys],
                         "compile_s": rep["compile_s"], "max_abs_diff": rep["max_abs_diff"]}
        print(f"  {name}: {rep['compile_s']} s to compile ({time.time() - t0:.0f} s in all)", flush=True)
    return records


def main():
    fixtures, zoo = sys.argv[1], sys.argv[2]
    jobs = int(sys.argv[sys.argv.index("--jobs") + 1]) if "--jobs" in sys.argv else 2
    if "--worker" in sys.argv:
        items = json.loads(sys.stdin.read())
        json.dump(work(fixtures, items), open(sys.argv[sys.argv.index("--worker") + 1], "w"))
        return
    os.makedirs(os.path.join(fixtures, "pt2"), exist_ok=True)
    todo = models(fixtures, zoo)
    started = time.time()
    procs = []
    for k in range(jobs):
        part = todo[k::jobs]
        out = os.path.join(fixtures, "pt2", f".part{k}.json")
        p = subprocess.Popen([sys.executable, __file__, fixtures, zoo, "--worker", out], stdin=subprocess.PIPE, text=True)
        p.stdin.write(json.dumps(part))
        p.stdin.close()
        procs.append((p, out))
    expected = {}
    for p, out in procs:
        if p.wait() != 0:
            sys.exit(f"make_packages: a worker failed (exit {p.returncode})")
        expected.update(json.load(open(out)))
        os.unlink(out)
    with open(os.path.join(fixtures, "pt2", "expected.json"), "w") as f:
        json.dump(expected, f)
    ok = sum(1 for r in expected.values() if "error" not in r)
    print(f"packages: {ok} of {len(expected)} compiled in {time.time() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
