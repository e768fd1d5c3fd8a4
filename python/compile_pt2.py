"""Compiles a model into an AOTInductor package (.pt2) for torchloop: `torchloop compile`.

    python compile_pt2.py --out model.pt2 (--pt model.pt | --module pkg.mod:factory)
                          --input 1x48[:float32] [--input ...] [--method forward]
                          [--default] [--seed N]

- A TorchScript file goes through torch.export's TorchScript converter (TS2EPConverter); a
  Python module's factory returns an nn.Module, exported with torch.export.export.
- AOTInductor compiles it with freezing and max-autotune's CPP GEMM backend (the fastest path
  measured on batch-1 policies), unless --default.
- The package's outputs are checked against the source's on seeded random inputs before it is
  written (atomically: a temporary file in the same folder, then a rename).
- Progress goes to stderr as `stage <name> <seconds>` lines; the last line on stdout is a JSON
  report (the package's inputs and outputs, the largest difference, the compile time).

Exit status: 0 written; 2 bad arguments or a model that cannot be converted or exported (the
message says what to do); 3 the package's outputs differ from the source's.
"""
import argparse
import hashlib
import importlib
import json
import os
import sys
import tempfile
import time
import warnings

STARTED = time.time()


def stage(name):
    print(f"stage {name} {time.time() - STARTED:.1f}", file=sys.stderr, flush=True)


class CompileError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def fail(code, message):
    raise CompileError(code, message)


def sysfs_cache_sizes():
    """L1d and L2 sizes in bytes from /sys (this VM's cpuinfo reports 0, and the CPP GEMM
    template asserts on 0)."""
    sizes = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in os.listdir(base):
            d = os.path.join(base, entry)
            try:
                level = open(os.path.join(d, "level")).read().strip()
                kind = open(os.path.join(d, "type")).read().strip()
                size = open(os.path.join(d, "size")).read().strip()
            except OSError:
                continue
            n = int(size.rstrip("KMG")) * {"K": 1024, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1)
            if level == "1" and kind == "Data":
                sizes["l1d_cache_size"] = n
            elif level == "2" and kind in ("Unified", "Data"):
                sizes["l2_cache_size"] = n
    except OSError:
        pass
    return sizes


def patch_cache_sizes(torch):
    caps = torch.cpu.get_capabilities()
    if caps.get("l1d_cache_size", 0) > 0 and caps.get("l2_cache_size", 0) > 0:
        return
    found = sysfs_cache_sizes()
    fixed = dict(caps)
    fixed["l1d_cache_size"] = caps.get("l1d_cache_size") or found.get("l1d_cache_size", 32 * 1024)
    fixed["l2_cache_size"] = caps.get("l2_cache_size") or found.get("l2_cache_size", 1 << 20)
    torch.cpu.get_capabilities = lambda: fixed
    print(f"note torch.cpu reports cache sizes of 0; using L1d {fixed['l1d_cache_size']} and L2 {fixed['l2_cache_size']} bytes from /sys",
          file=sys.stderr, flush=True)


DTYPES = {"float32": "float32", "float": "float32", "float64": "float64", "double": "float64", "int64": "int64",
          "long": "int64", "int32": "int32", "bool": "bool", "float16": "float16", "bfloat16": "bfloat16"}


def parse_input(spec):
    shape, _, dtype = spec.partition(":")
    dtype = DTYPES.get(dtype or "float32")
    try:
        dims = [int(d) for d in shape.lower().split("x")] if shape else []
    except ValueError:
        dims = None
    if dims is None or any(d < 0 for d in dims) or dtype is None:
        fail(2, f"--input {spec!r}: expected a shape such as 1x48, optionally with a dtype (1x48:float32, 1x12:int64)")
    return dims, dtype


def sample(torch, dims, dtype, generator):
    dt = getattr(torch, dtype)
    if dt == torch.bool:
        return torch.rand(dims, generator=generator) > 0.5
    if not dt.is_floating_point:
        return torch.randint(0, 4, dims, generator=generator, dtype=dt)
    return torch.randn(dims, generator=generator).to(dt)


def rebuild_sequential(torch, seq):
    """An eager nn.Sequential of a scripted one's Linear layers and parameterless activations."""
    layers = []
    for _, child in seq.named_children():
        kind = child.original_name
        if kind == "Linear":
            layer = torch.nn.Linear(child.weight.shape[1], child.weight.shape[0], bias=child.bias is not None)
            layer.load_state_dict(child.state_dict())
            layers.append(layer)
        elif hasattr(torch.nn, kind) and not list(child.parameters()):
            layers.append(getattr(torch.nn, kind)())
        else:
            return None
    return torch.nn.Sequential(*layers)


def rebuild_recurrent(torch, ts):
    """rsl_rl's exported recurrent policies (legged_gym, unitree_rl_gym, Isaac Lab):
    forward(x) runs `memory` (an nn.LSTM or nn.GRU) one step from the buffers hidden_state
    (and cell_state), writes the new state into them, and feeds `actor` (an nn.Sequential).
    torch.export's converter stops at the scripted LSTM's control flow, and an nn.LSTM at batch
    1 goes to oneDNN's RNN kernel, slow at one step. So the policy is rebuilt in Python with
    each layer's cell written as two linears and the gate functions, which AOTInductor fuses;
    the state stays in the package's buffers, written in place each call. Returns
    (module, state buffer names) or None when the module is not one of these."""
    children = dict(ts.named_children())
    buffers = dict(ts.named_buffers())
    memory, actor = children.get("memory"), children.get("actor")
    if memory is None or actor is None or memory.original_name not in ("LSTM", "GRU") or "hidden_state" not in buffers:
        return None
    lstm = memory.original_name == "LSTM"
    if lstm and "cell_state" not in buffers:
        return None
    sd = memory.state_dict()
    layers = sum(1 for k in sd if k.startswith("weight_ih_l") and "reverse" not in k)
    if any("reverse" in k for k in sd) or getattr(memory, "batch_first", False):
        return None
    head = rebuild_sequential(torch, actor)
    if head is None:
        return None
    gates = 4 if lstm else 3

    class Cell(torch.nn.Module):
        def __init__(self, layer):
            super().__init__()
            w_ih, w_hh = sd[f"weight_ih_l{layer}"], sd[f"weight_hh_l{layer}"]
            self.ih = torch.nn.Linear(w_ih.shape[1], w_ih.shape[0])
            self.hh = torch.nn.Linear(w_hh.shape[1], w_hh.shape[0])
            with torch.no_grad():
                self.ih.weight.copy_(w_ih)
                self.hh.weight.copy_(w_hh)
                self.ih.bias.copy_(sd.get(f"bias_ih_l{layer}", torch.zeros(w_ih.shape[0])))
                self.hh.bias.copy_(sd.get(f"bias_hh_l{layer}", torch.zeros(w_hh.shape[0])))

        def forward(self, x, h, c):
            if lstm:  # PyTorch's LSTM: gates i, f, g, o
                i, f, g, o = (self.ih(x) + self.hh(h)).chunk(gates, dim=-1)
                c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                return torch.sigmoid(o) * torch.tanh(c2), c2
            # PyTorch's GRU: gates r, z, n; the hidden bias of n inside r's product
            xr, xz, xn = self.ih(x).chunk(gates, dim=-1)
            hr, hz, hn = self.hh(h).chunk(gates, dim=-1)
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            return (1 - z) * n + z * h, c

    class Policy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cells = torch.nn.ModuleList([Cell(k) for k in range(layers)])
            self.actor = head
            self.register_buffer("hidden_state", buffers["hidden_state"].detach().clone())
            if lstm:
                self.register_buffer("cell_state", buffers["cell_state"].detach().clone())

        def forward(self, x):
            inp, hs, cs = x, [], []
            for k, cell in enumerate(self.cells):
                h, c = cell(inp, self.hidden_state[k], self.cell_state[k] if lstm else self.hidden_state[k])
                hs.append(h)
                cs.append(c)
                inp = h
            self.hidden_state.copy_(torch.stack(hs))
            if lstm:
                self.cell_state.copy_(torch.stack(cs))
            return self.actor(inp)

    return Policy().eval(), ["hidden_state", "cell_state"] if lstm else ["hidden_state"]


def flatten(value, out):
    if hasattr(value, "shape"):
        out.append(value)
    elif isinstance(value, (tuple, list)):
        for v in value:
            flatten(v, out)
    elif isinstance(value, dict):
        for k in value:
            flatten(value[k], out)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--pt")
    src.add_argument("--module")
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--method", default="forward")
    ap.add_argument("--default", action="store_true", help="AOTInductor's default options (no freezing, no autotuning)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    try:
        report = compile_package(a.out, pt=a.pt, module=a.module, input_specs=a.input, method=a.method, default=a.default, seed=a.seed)
    except CompileError as e:
        print(f"error {e}", file=sys.stderr, flush=True)
        sys.exit(e.code)
    stage("done")
    print(json.dumps(report))


def compile_package(out, pt=None, module=None, input_specs=(), method="forward", default=False, seed=0):
    """Compiles and checks one package; returns the report. Raises CompileError."""
    a = argparse.Namespace(out=out, pt=pt, module=module, input=list(input_specs), method=method, default=default, seed=seed)
    if not a.input:
        fail(2, "give the shape of every input of the method: --input 1x48 [--input ...]")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message="Manually populate")
    warnings.filterwarnings("ignore", message="TF32 acceleration")
    import torch

    try:
        import torch._inductor  # noqa: F401

        aoti = hasattr(torch._inductor, "aoti_compile_and_package")
    except ImportError:
        aoti = False
    if not aoti:
        fail(2, f"{sys.executable} has PyTorch {torch.__version__}, and torchloop compile needs PyTorch 2.6 or later "
                "(torch.export, AOTInductor packages): name another with --python")
    # One thread while compiling: the generated kernels take the compiling process's thread
    # count, and a realtime step runs on one thread.
    torch.set_num_threads(1)
    patch_cache_sizes(torch)
    specs = [parse_input(s) for s in a.input]
    g = torch.Generator().manual_seed(a.seed)
    inputs = tuple(sample(torch, d, t, g) for d, t in specs)

    stage("load")
    names = None
    state, route = [], "torch.export"
    if a.pt:
        try:
            source = torch.jit.load(a.pt, map_location="cpu").eval()
        except Exception as e:  # noqa: BLE001
            fail(2, f"torch.jit.load cannot read {a.pt}: {str(e).splitlines()[0]}")
        if a.method != "forward":
            fail(2, "TorchScript's converter exports forward() only; give --module with a module whose forward() is the method")
        try:
            schema = source.forward.schema
            names = [arg.name for arg in schema.arguments[1:]]
        except Exception:  # noqa: BLE001
            names = None
        reference = source
        rebuilt = rebuild_recurrent(torch, source)
        stage("convert")
        from torch._export.converter import TS2EPConverter
        try:
            with torch.no_grad():
                if rebuilt:
                    route = f"rsl_rl recurrent policy ({rebuilt[0].cells.__len__()}-layer cell as linears and gates)"
                    state = rebuilt[1]
                    ep = torch.export.export(rebuilt[0], inputs)
                else:
                    ep = TS2EPConverter(source, inputs).convert()
        except Exception as e:  # noqa: BLE001
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            fail(2, f"torch.export's TorchScript converter cannot convert {os.path.basename(a.pt)}: {first[:400]}. "
                    "Scripted control flow (prim::If, prim::Loop on tensors) and scripted recurrent modules often do not "
                    "convert. Export the Python module instead: write a factory that returns the nn.Module and run "
                    "`torchloop compile --module pkg.mod:factory --input ...` (torch.export.export), or keep the .pt file: "
                    "torchloop runs it as it is.")
    else:
        mod_name, _, attr = a.module.partition(":")
        if not mod_name or not attr:
            fail(2, f"--module {a.module!r}: expected pkg.mod:factory (a function returning an nn.Module)")
        sys.path.insert(0, os.getcwd())
        try:
            factory = getattr(importlib.import_module(mod_name), attr)
        except Exception as e:  # noqa: BLE001
            fail(2, f"cannot import {a.module}: {e}")
        module = factory()
        if not isinstance(module, torch.nn.Module):
            fail(2, f"{a.module} returned {type(module).__name__}, not a torch.nn.Module")
        module = module.eval()
        if a.method != "forward":
            method = getattr(module, a.method)

            class Method(torch.nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, *args):
                    return getattr(self.m, a.method)(*args)

            module = Method(module).eval()
            names = None
        else:
            import inspect
            names = [p for p in inspect.signature(module.forward).parameters]
        reference = module
        stage("export")
        try:
            with torch.no_grad():
                ep = torch.export.export(module, inputs)
        except Exception as e:  # noqa: BLE001
            fail(2, f"torch.export.export failed on {a.module}: {str(e).strip().splitlines()[0][:400]}")
    fresh = (lambda: torch.jit.load(a.pt, map_location="cpu").eval()) if a.pt else None
    if state:
        # The check below runs both from their first state, call after call.
        reference = fresh()
    if not names or len(names) != len(inputs):
        names = [f"input{i}" for i in range(len(inputs))]

    with torch.no_grad():
        expected = flatten((fresh() if state else reference)(*inputs), [])
    outputs = [{"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")} for t in expected]
    meta = {
        "torchloop.inputs": json.dumps([{"name": n, "shape": d, "dtype": t} for n, (d, t) in zip(names, specs)]),
        "torchloop.outputs": json.dumps(outputs),
        "torchloop.torch_version": torch.__version__,
        "torchloop.source": os.path.basename(a.pt or a.module),
    }
    if state:
        meta["torchloop.state"] = ",".join(state)
        meta["torchloop.route"] = route
    if a.pt:
        meta["torchloop.source_sha256"] = hashlib.sha256(open(a.pt, "rb").read()).hexdigest()
    configs = {"aot_inductor.metadata": meta}
    if not a.default:
        # At batch 1 the CPP GEMM template's fused micro-kernels win; with a batch, max-autotune
        # also times ATen's GEMM (MKL) and keeps the faster for each (M3: 6.5 -> 3.1 ms).
        batched = any(len(d) >= 2 and d[0] > 1 for d, _ in specs)
        configs.update({"freezing": True, "max_autotune": True, "max_autotune_gemm_backends": "ATEN,CPP" if batched else "CPP"})

    stage("compile")
    out_dir = os.path.dirname(os.path.abspath(a.out))
    tmp_dir = tempfile.mkdtemp(prefix=".torchloop-compile-", dir=out_dir)
    # The package's top folder is named after the file.
    tmp = os.path.join(tmp_dir, os.path.basename(a.out))
    try:
        t0 = time.time()
        # oneDNN is off while compiling. Convolutions then compile to ATen's own kernels (the
        # traffic-sign CNN: 85 -> 35 µs), and PyTorch's own decomposition of aten.lstm / aten.gru writes each
        # step as linears and gate functions (one_layer_lstm), which AOTInductor fuses; with it
        # on, a batch-1 step goes to oneDNN's RNN kernel (2.6x slower here).
        with torch.backends.mkldnn.flags(enabled=False):
            torch._inductor.aoti_compile_and_package(ep, package_path=tmp, inductor_configs=configs)
        compile_s = time.time() - t0
        stage("check")
        compiled = torch._inductor.aoti_load_package(tmp)
        worst = 0.0
        for trial in range(5 if state else 3):
            xs = inputs if trial == 0 else tuple(sample(torch, d, t, g) for d, t in specs)
            with torch.no_grad():
                want = flatten(reference(*xs), [])
                got = flatten(compiled(*xs), [])
            if len(want) != len(got):
                fail(3, f"the package returns {len(got)} tensors where the source returns {len(want)}")
            for w, o in zip(want, got):
                if w.shape != o.shape:
                    fail(3, f"the package returns a tensor of shape {list(o.shape)} where the source returns {list(w.shape)}")
                if w.numel() == 0:
                    continue
                wd, od = w.double(), o.double()
                diff = (wd - od).abs().max().item()
                scale = max(1.0, wd.abs().max().item())
                worst = max(worst, diff)
                if not diff <= 1e-4 * scale:
                    fail(3, f"the package's outputs differ from the source's by {diff:.3g} (tolerance {1e-4 * scale:.3g}); "
                            "the package was not written. Try --default (no freezing or autotuning).")
        os.replace(tmp, a.out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        os.rmdir(tmp_dir)
    return {"out": a.out, "inputs": json.loads(meta["torchloop.inputs"]), "outputs": outputs, "state": state, "route": route,
            "max_abs_diff": worst, "compile_s": round(compile_s, 1), "torch": torch.__version__,
            "options": "default" if a.default else "freezing + max-autotune (CPP GEMM)"}


if __name__ == "__main__":
    main()
