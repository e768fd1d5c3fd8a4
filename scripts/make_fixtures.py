#!/usr/bin/python3
"""Test and benchmark fixtures, made by real PyTorch: run once by each PyTorch torchloop is
tested against (2.13 from the project's venv, 1.13 as Debian's /usr/bin/python3), each into
its own folder (scripts/builds.mjs).

Every model is saved with torch.jit.save, and the outputs PyTorch computed for fixed
inputs are saved beside it in expected.json, so torchloop is checked against PyTorch,
never against itself.

    PYTHON scripts/make_fixtures.py OUT_DIR [--bench | --demo | --demo-mlp]
"""
import io
import json
import os
import random
import sys
import zipfile
from typing import Dict, List, Optional, Tuple

import torch

OUT = sys.argv[1] if len(sys.argv) > 1 else "test/fixtures"
BENCH = "--bench" in sys.argv
DEMO = "--demo" in sys.argv
DEMO_MLP = "--demo-mlp" in sys.argv
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
expected = {}


def path(name):
    return os.path.join(OUT, name)


def tolist(t):
    return {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""), "data": t.flatten().tolist()}


# --- dg_pytorch's PD controller (seed 002) -------------------------------------------
class PDController(torch.nn.Module):
    def forward(self, kp, kd, position, velocity, des_position, des_velocity):
        return kp * (des_position - position) + kd * (des_velocity - velocity)


class MLPPolicy(torch.nn.Module):
    """An MLP 48-256-256-12 (tanh) that maps the 12-joint state and target to torques."""

    def __init__(self, scale: float):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(48, 256), torch.nn.Tanh(), torch.nn.Linear(256, 256), torch.nn.Tanh(), torch.nn.Linear(256, 12)
        )
        self.scale = scale

    def forward(self, position, velocity, des_position, des_velocity):
        x = torch.cat([position, velocity, des_position, des_velocity], dim=-1)
        return self.net(x) * self.scale


if DEMO:
    # The demo's PD controller (dg_pytorch's).
    torch.jit.script(PDController()).save(path("script_pd_controller.pt"))
    print(f"demo PD controller written to {OUT}")
    sys.exit(0)

if DEMO_MLP:
    # The demo's MLP policy, trained here by PyTorch to imitate the PD (kp=50, kd=10) over the
    # range the demo's arm visits: only when the demo asks for it (--policy mlp).
    policy = MLPPolicy(100.0)
    opt = torch.optim.Adam(policy.parameters(), lr=2e-3)
    for i in range(2500):
        p, dp = torch.rand(512, 12) * 2.4 - 1.2, torch.rand(512, 12) * 2.4 - 1.2
        v, dv = torch.rand(512, 12) * 6 - 3, torch.rand(512, 12) * 6 - 3
        target = 50 * (dp - p) + 10 * (dv - v)
        loss = torch.nn.functional.mse_loss(policy(p, v, dp, dv), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    policy.eval()
    torch.jit.script(policy).save(path("mlp_policy.pt"))
    print(f"demo MLP policy written to {OUT} (policy imitation rmse {loss.item() ** 0.5:.3f} N*m)")
    sys.exit(0)


pd = torch.jit.script(PDController())
pd.save(path("script_pd_controller.pt"))
pd_in = [torch.tensor([5.0]), torch.tensor([0.1])] + [torch.randn(12) for _ in range(4)]
expected["pd"] = {"inputs": [tolist(t) for t in pd_in], "output": tolist(pd(*pd_in))}


# --- MLPs ---------------------------------------------------------------------------
def mlp(sizes, act):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.Tanh() if act == "tanh" else torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


m2 = torch.jit.script(mlp([48, 256, 256, 12], "tanh"))
m2.save(path("mlp_m2.pt"))
x2 = torch.randn(1, 48)
expected["m2"] = {"inputs": [tolist(x2)], "output": tolist(m2(x2))}
x2b = torch.randn(5, 48)
expected["m2_batch5"] = {"inputs": [tolist(x2b)], "output": tolist(m2(x2b))}


# --- every value kind ---------------------------------------------------------------
class Kinds(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.arange(6, dtype=torch.float32).reshape(2, 3))
        self.register_buffer("count", torch.zeros(1, dtype=torch.int64))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return x + h, x * h

    @torch.jit.export
    def reset(self) -> None:
        self.count.zero_()

    @torch.jit.export
    def tick(self) -> int:
        self.count += 1
        return int(self.count.item())

    @torch.jit.export
    def scaled(self, x: torch.Tensor, a: float, n: int) -> torch.Tensor:
        return x * a + n

    @torch.jit.export
    def identity(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    @torch.jit.export
    def first(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @torch.jit.export
    def project(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w.t()

    @torch.jit.export
    def lists(self, xs: List[torch.Tensor], ks: List[int], fs: List[float]) -> Tuple[torch.Tensor, int, float]:
        total = torch.zeros_like(xs[0])
        for x in xs:
            total = total + x
        return total, sum(ks), sum(fs)

    @torch.jit.export
    def dicts(self, d: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        out: Dict[str, torch.Tensor] = {}
        for k, v in d.items():
            out[k + "_twice"] = v * 2
        return out

    @torch.jit.export
    def options(self, x: Optional[torch.Tensor], flag: bool = True, name: str = "hi", k: int = 3) -> Tuple[bool, str, int, Optional[torch.Tensor]]:
        return flag, name + "!", k, x

    @torch.jit.export
    def nested(self, pairs: List[Tuple[str, List[float]]]) -> Dict[str, float]:
        out: Dict[str, float] = {}
        for name, values in pairs:
            out[name] = sum(values)
        return out

    @torch.jit.export
    def nothing(self) -> Optional[int]:
        return None


kinds = torch.jit.script(Kinds())
kinds.save(path("kinds.pt"))
kx = torch.arange(4, dtype=torch.float32)
expected["kinds"] = {
    "forward": [tolist(t) for t in kinds(kx, kx + 1)],
    "scaled": tolist(kinds.scaled(kx, 2.5, 3)),
    "project": tolist(kinds.project(torch.ones(2, 3))),
    "params": {n: tolist(p) for n, p in kinds.named_parameters()},
}


# --- an operator that only PyTorch 2.x has (this file exists only among 2.x's fixtures) ----
if hasattr(torch.nn.functional, "scaled_dot_product_attention"):
    class Attention(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(16, 48)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            q, k, v = self.qkv(x).chunk(3, dim=-1)
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)

    attention = torch.jit.script(Attention().eval())
    attention.save(path("sdpa.pt"))
    xa = torch.randn(1, 5, 16)
    expected["sdpa"] = {"inputs": [tolist(xa)], "output": tolist(attention(xa))}


# --- a slow forward (async test) and a shape error deep inside ------------------------
class Slow(torch.nn.Module):
    def forward(self, x: torch.Tensor, n: int) -> torch.Tensor:
        y = x
        for _ in range(n):
            y = torch.tanh(y @ x)
        return y


torch.jit.script(Slow()).save(path("slow.pt"))


class Deep(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 8)
        self.b = torch.nn.Linear(7, 2)  # wrong on purpose: 8 features reach a 7-wide layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


torch.jit.script(Deep()).save(path("deep_shape_error.pt"))

# --- bad files ----------------------------------------------------------------------
torch.save(mlp([4, 4], "tanh").state_dict(), path("state_dict.pt"))
with open(path("mlp_m2.pt"), "rb") as f:
    good = f.read()
with open(path("truncated.pt"), "wb") as f:
    f.write(good[: len(good) // 2])
with open(path("empty.pt"), "wb") as f:
    pass
rng = random.Random(7)
with open(path("random.pt"), "wb") as f:
    f.write(bytes(rng.randrange(256) for _ in range(4096)))
# A module whose code calls an operator this libtorch does not know, as a module saved by a
# newer PyTorch does (for instance aten::_native_multi_head_attention variants in 2.x).
with zipfile.ZipFile(path("kinds.pt")) as src, zipfile.ZipFile(path("newer_pytorch.pt"), "w", zipfile.ZIP_STORED) as dst:
    for item in src.infolist():
        data = src.read(item.filename)
        if item.filename.endswith("code/__torch__.py"):
            data = data.replace(b"torch.add(x, h)", b"torch.future_op_from_pytorch_2(x, h)")
        dst.writestr(item, data)

# --- malformed archives: every kind of damage that once crashed, hung or fooled libtorch ---
# Built from a real archive by editing its records (pickletools finds the opcodes); each file
# comes with the diagnosis torchloop must give it (a regex over ERR_MODEL_LOAD's message).
def malformed():
    import pickletools
    import struct

    os.makedirs(path("malformed"), exist_ok=True)
    cases = {}

    def rewrite(src, name, edit, expect):
        """Copies archive `src` into malformed/<name>, edit(record_name, bytes) -> bytes or None (drop)."""
        with zipfile.ZipFile(path(src)) as zin, zipfile.ZipFile(path(f"malformed/{name}"), "w") as zout:
            for item in zin.infolist():
                data = edit(item.filename.split("/", 1)[1], zin.read(item.filename))
                if data is not None:
                    zout.writestr(zipfile.ZipInfo(item.filename, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=item.compress_type)
        cases[name] = expect

    def pickle_of(body):
        return lambda rec, data: (b"\x80\x02" + body + b".") if rec == "data.pkl" else data

    for op, byte in [("BINPERSID", b"Q"), ("BUILD", b"b"), ("NEWOBJ", b"\x81"), ("REDUCE", b"R"), ("TUPLE1", b"\x85"),
                     ("TUPLE2", b"\x86"), ("TUPLE3", b"\x87"), ("SETITEM", b"s")]:
        rewrite("kinds.pt", f"empty_stack_{op}.pt", pickle_of(byte), f"{op} needs \\d value\\(s\\) on the stack but there are 0")
    rewrite("kinds.pt", "appends_without_mark.pt", pickle_of(b"]e"), "APPENDS without a MARK")
    rewrite("kinds.pt", "pop_across_mark.pt", pickle_of(b"N(\x85"), "TUPLE1 needs 1 value\\(s\\) on the stack but above the MARK there are 0")
    rewrite("kinds.pt", "unknown_opcode.pt", pickle_of(b"\xff"), "opcode 0xff is not one that TorchScript's unpickler reads")
    rnd = random.Random(11)
    rewrite("kinds.pt", "random_opcodes.pt", pickle_of(bytes(rnd.randrange(256) for _ in range(300))), "data\\.pkl, byte \\d+: ")
    rewrite("kinds.pt", "nested_million.pt", pickle_of(b"N" + b"\x85" * 1_000_000), "nested more than 1000 deep")
    rewrite("kinds.pt", "marks_million.pt", pickle_of(b"(" * 1_000_000), "MARKs nested more than 1000 deep")
    rewrite("kinds.pt", "string_4gb.pt", pickle_of(b"X" + struct.pack("<I", 0xF0000000) + b"abc"), "a string of 4026531840 bytes")
    rewrite("kinds.pt", "string_past_end.pt", pickle_of(b"X" + struct.pack("<I", 100000) + b"abc"), "truncated: BINUNICODE needs 100000 bytes")
    rewrite("kinds.pt", "memo_skip.pt", pickle_of(b"Nr" + struct.pack("<I", 4_000_000_000)), "memo slot 4000000000 skips past the 0 slots in use")
    rewrite("kinds.pt", "memo_unset.pt", pickle_of(b"h\x07"), "memo slot 7 was never stored")
    rewrite("kinds.pt", "dict_odd.pt", pickle_of(b"(Nd"), "DICT with an odd number of values")
    rewrite("kinds.pt", "stop_early.pt", pickle_of(b"NN"), "STOP with 2 values on the stack")
    # TorchScript source nested 10,000 deep.
    deep = "(" * 10000 + "x" + ")" * 10000
    rewrite("kinds.pt", "source_nested.pt",
            lambda rec, data: data.replace(b"return (torch.add(x, h), torch.mul(x, h))", f"return (torch.add({deep}, h), torch.mul(x, h))".encode()) if rec == "code/__torch__.py" else data,
            "code/__torch__\\.py, byte \\d+: brackets nested more than 256 deep")

    # Tensors: the first weight of the MLP (a [256, 48] float tensor over storage '0').
    m2 = zipfile.ZipFile(path("mlp_m2.pt"))
    pkl = m2.read(m2.namelist()[0].split("/")[0] + "/data.pkl")
    ops = list(pickletools.genops(pkl))
    first = next(i for i, (op, arg, pos) in enumerate(ops) if op.name == "BINPERSID")
    # After BINPERSID: BINPUT, offset, MARK, size0, size1, TUPLE, MARK, stride0, stride1, TUPLE
    spots = {"numel": first - 2, "offset": first + 2, "size0": first + 4, "stride0": first + 8}

    def long1(v):
        return b"\x8a\x08" + struct.pack("<q", v)

    def patch_int(which, value):
        i = spots[which]
        start, end = ops[i][2], ops[i + 1][2]
        return pkl[:start] + long1(value) + pkl[end:]

    def tensor_case(name, which, value, expect):
        rewrite("mlp_m2.pt", name, lambda rec, data: patch_int(which, value) if rec == "data.pkl" else data, expect)

    tensor_case("tensor_2e62_elements.pt", "size0", 2**62, "a tensor of more than 1099511627776 elements")
    tensor_case("tensor_offset_2e62.pt", "offset", 2**62, "a tensor reaches element \\d+ of storage '0', which holds 12288")
    tensor_case("tensor_stride_2e62.pt", "stride0", 2**62, "a tensor reaches element \\d+ of storage '0', which holds 12288")
    tensor_case("tensor_negative_size.pt", "size0", -5, "a tensor size is negative")
    tensor_case("storage_numel_2e62.pt", "numel", 2**62, "storage '0' holds 4611686018427387904 elements of 4 bytes, but its record data/0 has 49152 bytes")
    rewrite("mlp_m2.pt", "weight_cut_in_half.pt", lambda rec, data: data[: len(data) // 2] if rec == "data/0" else data,
            "storage '0' holds 12288 elements of 4 bytes, but its record data/0 has 24576 bytes")
    rewrite("mlp_m2.pt", "weight_missing.pt", lambda rec, data: None if rec == "data/0" else data, "storage '0' has no record data/0")

    # The zip itself: damage to the directory that points at the records.
    with open(path("mlp_m2.pt"), "rb") as f:
        good = bytearray(f.read())
    eocd = good.rindex(b"PK\x05\x06")
    cd = struct.unpack_from("<I", good, eocd + 16)[0]

    def zip_case(name, edit, expect):
        b = bytearray(good)
        edit(b)
        with open(path(f"malformed/{name}"), "wb") as f:
            f.write(b)
        cases[name] = expect

    # torch.jit.save writes zip64 records too, so moving the plain record alone makes them disagree.
    zip_case("zip_directory_outside.pt", lambda b: struct.pack_into("<I", b, eocd + 16, len(good) + 10),
             "the central directory lies outside the file|the zip64 and the plain end-of-central-directory records disagree")
    zip_case("zip_record_size_huge.pt", lambda b: (struct.pack_into("<I", b, cd + 20, 0x7FFFFFF0), struct.pack_into("<I", b, cd + 24, 0x7FFFFFF0)),
             "runs past the end of the file")
    zip_case("zip_local_header_outside.pt", lambda b: struct.pack_into("<I", b, cd + 42, len(good) - 4), "local header of .* is missing or damaged")
    with open(path("malformed/cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if not BENCH and not DEMO:
    malformed()


# --- training: torch.optim from the same weights and batches ----------------------------
class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 3)
        self.b = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.tanh(self.a(x)))

    @torch.jit.export
    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((pred - target) ** 2).sum(dim=1).mean()


torch.manual_seed(3)
small = torch.jit.script(Small())
small.save(path("small.pt"))
g = torch.Generator().manual_seed(11)
batches = [(torch.randn(5, 4, generator=g), torch.randn(5, 2, generator=g)) for _ in range(4)]
configs = {
    "sgd": ({"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": True, "weightDecay": 1e-3},
            lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3), None, 1, None),
    "adam": ({"optimizer": "adam", "lr": 0.01, "betas": [0.8, 0.99], "weightDecay": 1e-2},
             lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=1e-2), None, 1, None),
    "adamw": ({"optimizer": "adamw", "lr": 0.01, "weightDecay": 0.05},
              lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.05), None, 1, None),
    "rmsprop": ({"optimizer": "rmsprop", "lr": 0.01, "alpha": 0.9, "momentum": 0.5, "weightDecay": 1e-3},
                lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, momentum=0.5, weight_decay=1e-3), None, 1, None),
    "sgd_clip_step": ({"optimizer": "sgd", "lr": 0.2, "clipNorm": 0.5, "schedule": {"kind": "step", "stepSize": 2, "gamma": 0.5}},
                      lambda p: torch.optim.SGD(p, lr=0.2), lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5), 1, 0.5),
    "adam_accumulate_cosine": ({"optimizer": "adam", "lr": 0.05, "accumulate": 2, "schedule": {"kind": "cosine", "tMax": 3, "etaMin": 0.001}},
                               lambda p: torch.optim.Adam(p, lr=0.05), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=3, eta_min=0.001), 2, None),
    "loss_method": ({"optimizer": "sgd", "lr": 0.05, "loss": "method:loss"}, lambda p: torch.optim.SGD(p, lr=0.05), None, 1, None),
}
optim_expected = {"batches": [[tolist(x), tolist(y)] for x, y in batches], "configs": {}}
for name, (cfg, make, sched, accumulate, clip) in configs.items():
    m = torch.jit.load(path("small.pt"))
    opt = make(list(m.parameters()))
    scheduler = sched(opt) if sched else None
    losses = []
    for i, (x, y) in enumerate(batches):
        pred = m(x)
        loss = m.loss(pred, y) if cfg.get("loss") == "method:loss" else torch.nn.functional.mse_loss(pred, y)
        losses.append(loss.item())
        (loss / accumulate).backward()
        if (i + 1) % accumulate == 0:
            if clip:
                torch.nn.utils.clip_grad_norm_(list(m.parameters()), clip)
            opt.step()
            opt.zero_grad()
            if scheduler:
                scheduler.step()
    optim_expected["configs"][name] = {
        "options": cfg,
        "losses": losses,
        "lr": opt.param_groups[0]["lr"],
        "params": {n: tolist(p.detach()) for n, p in m.named_parameters()},
    }
expected["optim"] = optim_expected

expected["torch"] = torch.__version__
with open(path("expected.json"), "w") as f:
    json.dump(expected, f)

# --- benchmark models ----------------------------------------------------------------
# M3 is also a test fixture: scripts/make_packages.py compiles it into a .pt2.
m3 = torch.jit.script(mlp([512, 1024, 1024, 512], "relu"))
m3.save(path("mlp_m3.pt"))
if BENCH:
    for name, module, inputs in [
        ("m1", PDController(), tuple(torch.randn(12) for _ in range(6))),
        ("m2", mlp([48, 256, 256, 12], "tanh"), (torch.randn(1, 48),)),
        ("m3", mlp([512, 1024, 1024, 512], "relu"), (torch.randn(64, 512),)),
    ]:
        if name == "m2":
            module.load_state_dict(torch.jit.load(path("mlp_m2.pt")).state_dict())
        if name == "m3":
            module.load_state_dict(m3.state_dict())
        names = [f"in{i}" for i in range(len(inputs))]
        # 2.x: the TorchScript-based exporter (the default one needs onnxscript).
        legacy = {"dynamo": False} if int(torch.__version__.split(".")[0]) >= 2 else {}
        torch.onnx.export(module, inputs, path(f"{name}.onnx"), input_names=names, output_names=["out"], opset_version=13, **legacy)
print(f"fixtures written to {OUT}")
