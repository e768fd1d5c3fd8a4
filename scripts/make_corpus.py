#!/usr/bin/python3
"""The valid-file corpus: TorchScript files that real PyTorch writes, with the outputs it
computed, so that torchloop's validating loader is held to accepting every one (a false
rejection is a bug, as a crash is). Run by each PyTorch torchloop is tested against (setup:
2.13 from .torch/, 1.13 as Debian's /usr/bin/python3), each into its own folder.

It covers:
  - every torch.nn module that torch.jit.script accepts (a module this PyTorch lacks, or that
    it cannot script, is listed in the manifest as skipped, with the reason);
  - containers: Sequential, ModuleList, ModuleDict, ParameterList, ParameterDict;
  - the TorchScript language: NamedTuple, Union, Optional, enums, interfaces, script classes,
    @torch.jit.export, Final, forward hooks and pre-hooks, buffers written in forward,
    attributes of every type;
  - torch.jit.trace as well as torch.jit.script, and frozen modules;
  - with --ops-lib, a model calling a custom operator (my_ops::scale_add) from a library
    built by setup (test/native/my_ops.cc), scripted after torch.ops.load_library.

    PYTHON scripts/make_corpus.py OUT_DIR [--ops-lib path/to/libmy_ops.so]

OUT_DIR/manifest.json: {"torch", "files": [{"file", "kind", "method", "calls": [{"args", "result"}],
"needs"?}], "skipped": [{"name", "why"}]}. Values are encoded by scripts/torch_values.py.
Deterministic: the same PyTorch writes the same inputs and outputs every time.
"""
import enum
import json
import os
import sys
import warnings
import zipfile
from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn as nn

from torch_values import enc

warnings.filterwarnings("ignore")
OUT = sys.argv[1]
OPS_LIB = sys.argv[sys.argv.index("--ops-lib") + 1] if "--ops-lib" in sys.argv else None
os.makedirs(OUT, exist_ok=True)
torch.set_num_threads(1)
torch.manual_seed(0)
V = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
files, skipped = [], []

try:
    from typing import Union
    HAVE_UNION = V >= (1, 10)
except ImportError:  # pragma: no cover
    HAVE_UNION = False


def seeded(seed):
    torch.manual_seed(seed)


def add(name, module, calls, kind, method="forward", make=None, needs=None):
    """Scripts (or takes as made) `module`, saves it, runs `calls` (lists of arguments) through
    the saved file as PyTorch loads it, and records the results."""
    path = os.path.join(OUT, f"{name}.pt")
    try:
        scripted = make(module) if make else torch.jit.script(module)
        scripted.save(path)
        loaded = torch.jit.load(path)
        loaded.eval()
        records = []
        for args in calls:
            with torch.no_grad():
                result = getattr(loaded, method)(*args)
            records.append({"args": [enc(a) for a in args], "result": enc(result)})
    except Exception as e:  # noqa: BLE001 (anything PyTorch refuses is recorded, not fatal)
        if os.path.exists(path):
            os.remove(path)
        skipped.append({"name": name, "why": f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"})
        return
    entry = {"file": f"{name}.pt", "kind": kind, "method": method, "calls": records}
    if needs:
        entry["needs"] = needs
    files.append(entry)


def r(*shape):
    return torch.randn(*shape)


# --- torch.nn modules ---------------------------------------------------------------------
# (name, constructor, inputs): inputs are lists of arguments, one per call.
x4 = [[r(2, 4)]]
img = [[r(1, 3, 8, 8)]]
seq = [[r(5, 2, 4)]]
NN = [
    ("Identity", lambda: nn.Identity(), x4),
    ("Linear", lambda: nn.Linear(4, 3), x4),
    ("Bilinear", lambda: nn.Bilinear(4, 4, 3), [[r(2, 4), r(2, 4)]]),
    ("LazyLinear", None, None),
    ("Conv1d", lambda: nn.Conv1d(3, 4, 3, padding=1), [[r(1, 3, 10)]]),
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1, groups=1), img),
    ("Conv2d_groups", lambda: nn.Conv2d(4, 4, 3, groups=2, padding="same" if V >= (1, 9) else 1), [[r(1, 4, 6, 6)]]),
    ("Conv3d", lambda: nn.Conv3d(2, 3, 3, padding=1), [[r(1, 2, 4, 4, 4)]]),
    ("ConvTranspose1d", lambda: nn.ConvTranspose1d(3, 2, 3, stride=2), [[r(1, 3, 6)]]),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2, output_padding=1), img),
    ("ConvTranspose3d", lambda: nn.ConvTranspose3d(2, 2, 3), [[r(1, 2, 3, 3, 3)]]),
    ("Unfold", lambda: nn.Unfold(2), img),
    ("Fold", lambda: nn.Fold((4, 4), 2), [[r(1, 12, 9)]]),
    ("MaxPool1d", lambda: nn.MaxPool1d(2), [[r(1, 3, 8)]]),
    ("MaxPool2d", lambda: nn.MaxPool2d(2, ceil_mode=True), img),
    ("MaxPool3d", lambda: nn.MaxPool3d(2), [[r(1, 2, 4, 4, 4)]]),
    ("AvgPool1d", lambda: nn.AvgPool1d(2), [[r(1, 3, 8)]]),
    ("AvgPool2d", lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), img),
    ("AvgPool3d", lambda: nn.AvgPool3d(2), [[r(1, 2, 4, 4, 4)]]),
    ("LPPool1d", lambda: nn.LPPool1d(2, 2), [[r(1, 3, 8).abs()]]),
    ("LPPool2d", lambda: nn.LPPool2d(2, 2), [[r(1, 3, 8, 8).abs()]]),
    ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3), [[r(1, 3, 8)]]),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((3, 2)), img),
    ("AdaptiveAvgPool1d", lambda: nn.AdaptiveAvgPool1d(3), [[r(1, 3, 8)]]),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(1), img),
    ("AdaptiveAvgPool3d", lambda: nn.AdaptiveAvgPool3d(2), [[r(1, 2, 4, 4, 4)]]),
    ("ReflectionPad1d", lambda: nn.ReflectionPad1d(2), [[r(1, 3, 8)]]),
    ("ReflectionPad2d", lambda: nn.ReflectionPad2d(1), img),
    ("ReplicationPad2d", lambda: nn.ReplicationPad2d(1), img),
    ("ZeroPad2d", lambda: nn.ZeroPad2d((1, 0, 2, 1)), img),
    ("ConstantPad1d", lambda: nn.ConstantPad1d(2, 0.5), [[r(1, 3, 8)]]),
    ("CircularPad2d", lambda: nn.CircularPad2d(1), img),
    ("ELU", lambda: nn.ELU(0.5), x4),
    ("Hardshrink", lambda: nn.Hardshrink(), x4),
    ("Hardsigmoid", lambda: nn.Hardsigmoid(), x4),
    ("Hardtanh", lambda: nn.Hardtanh(-0.5, 0.5), x4),
    ("Hardswish", lambda: nn.Hardswish(), x4),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.1), x4),
    ("LogSigmoid", lambda: nn.LogSigmoid(), x4),
    ("MultiheadAttention", lambda: nn.MultiheadAttention(8, 2), [[r(3, 1, 8), r(3, 1, 8), r(3, 1, 8)]]),
    ("PReLU", lambda: nn.PReLU(3), [[r(2, 3)]]),
    ("ReLU", lambda: nn.ReLU(), x4),
    ("ReLU6", lambda: nn.ReLU6(), x4),
    ("RReLU", lambda: nn.RReLU().eval(), x4),
    ("SELU", lambda: nn.SELU(), x4),
    ("CELU", lambda: nn.CELU(), x4),
    ("GELU", lambda: nn.GELU(), x4),
    ("GELU_tanh", lambda: nn.GELU(approximate="tanh"), x4),
    ("Sigmoid", lambda: nn.Sigmoid(), x4),
    ("SiLU", lambda: nn.SiLU(), x4),
    ("Mish", lambda: nn.Mish(), x4),
    ("Softplus", lambda: nn.Softplus(2.0), x4),
    ("Softshrink", lambda: nn.Softshrink(), x4),
    ("Softsign", lambda: nn.Softsign(), x4),
    ("Tanh", lambda: nn.Tanh(), x4),
    ("Tanhshrink", lambda: nn.Tanhshrink(), x4),
    ("Threshold", lambda: nn.Threshold(0.1, 20.0), x4),
    ("GLU", lambda: nn.GLU(), x4),
    ("Softmin", lambda: nn.Softmin(dim=1), x4),
    ("Softmax", lambda: nn.Softmax(dim=-1), x4),
    ("Softmax2d", lambda: nn.Softmax2d(), img),
    ("LogSoftmax", lambda: nn.LogSoftmax(dim=1), x4),
    ("BatchNorm1d", lambda: nn.BatchNorm1d(4).eval(), x4),
    ("BatchNorm2d", lambda: nn.BatchNorm2d(3).eval(), img),
    ("BatchNorm3d", lambda: nn.BatchNorm3d(2).eval(), [[r(1, 2, 3, 3, 3)]]),
    ("GroupNorm", lambda: nn.GroupNorm(1, 3), img),
    ("InstanceNorm1d", lambda: nn.InstanceNorm1d(3, affine=True), [[r(1, 3, 8)]]),
    ("InstanceNorm2d", lambda: nn.InstanceNorm2d(3, track_running_stats=True).eval(), img),
    ("LayerNorm", lambda: nn.LayerNorm([4]), x4),
    ("LocalResponseNorm", lambda: nn.LocalResponseNorm(2), img),
    ("RMSNorm", lambda: nn.RMSNorm(4), x4),
    ("RNN", lambda: nn.RNN(4, 6, 2), seq),
    ("LSTM", lambda: nn.LSTM(4, 6, 2, batch_first=False), seq),
    ("LSTM_proj", lambda: nn.LSTM(4, 6, proj_size=3), seq),
    ("LSTM_bidirectional", lambda: nn.LSTM(4, 6, bidirectional=True, batch_first=True), seq),
    ("GRU", lambda: nn.GRU(4, 6), seq),
    ("RNNCell", lambda: nn.RNNCell(4, 6), x4),
    ("LSTMCell", lambda: nn.LSTMCell(4, 6), x4),
    ("GRUCell", lambda: nn.GRUCell(4, 6), x4),
    ("Transformer", lambda: nn.Transformer(8, 2, 1, 1, 16, dropout=0.0).eval(), [[r(4, 1, 8), r(3, 1, 8)]]),
    ("TransformerEncoderLayer", lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0).eval(), [[r(4, 1, 8)]]),
    ("TransformerEncoder", lambda: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 2, enable_nested_tensor=False).eval()
     if V >= (1, 13) else nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0), 2).eval(), [[r(4, 1, 8)]]),
    ("TransformerDecoderLayer", lambda: nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0).eval(), [[r(4, 1, 8), r(3, 1, 8)]]),
    ("Dropout", lambda: nn.Dropout(0.3).eval(), x4),
    ("Dropout2d", lambda: nn.Dropout2d(0.3).eval(), img),
    ("AlphaDropout", lambda: nn.AlphaDropout(0.3).eval(), x4),
    ("Embedding", lambda: nn.Embedding(10, 3), [[torch.tensor([[1, 2, 9]])]]),
    ("EmbeddingBag", lambda: nn.EmbeddingBag(10, 3, mode="mean"), [[torch.tensor([[1, 2, 4], [4, 3, 2]])]]),
    ("CosineSimilarity", lambda: nn.CosineSimilarity(), [[r(2, 4), r(2, 4)]]),
    ("PairwiseDistance", lambda: nn.PairwiseDistance(), [[r(2, 4), r(2, 4)]]),
    ("MSELoss", lambda: nn.MSELoss(), [[r(2, 4), r(2, 4)]]),
    ("L1Loss", lambda: nn.L1Loss(reduction="sum"), [[r(2, 4), r(2, 4)]]),
    ("SmoothL1Loss", lambda: nn.SmoothL1Loss(beta=0.5), [[r(2, 4), r(2, 4)]]),
    ("HuberLoss", lambda: nn.HuberLoss(), [[r(2, 4), r(2, 4)]]),
    ("CrossEntropyLoss", lambda: nn.CrossEntropyLoss(), [[r(3, 5), torch.tensor([1, 0, 4])]]),
    ("NLLLoss", lambda: nn.NLLLoss(), [[r(3, 5).log_softmax(1), torch.tensor([1, 0, 4])]]),
    ("BCEWithLogitsLoss", lambda: nn.BCEWithLogitsLoss(), [[r(2, 4), torch.rand(2, 4)]]),
    ("KLDivLoss", lambda: nn.KLDivLoss(reduction="batchmean"), [[r(2, 4).log_softmax(1), torch.rand(2, 4)]]),
    ("Flatten", lambda: nn.Flatten(), img),
    ("Unflatten", lambda: nn.Unflatten(1, (2, 2)), x4),
    ("PixelShuffle", lambda: nn.PixelShuffle(2), [[r(1, 8, 3, 3)]]),
    ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), [[r(1, 2, 4, 4)]]),
    ("Upsample_nearest", lambda: nn.Upsample(scale_factor=2.0, mode="nearest"), img),
    ("Upsample_bilinear", lambda: nn.Upsample(size=(5, 7), mode="bilinear", align_corners=False), img),
    ("ChannelShuffle", lambda: nn.ChannelShuffle(2), [[r(1, 4, 3, 3)]]),
]
class Wrapped(nn.Module):
    """Recurrent modules overload forward (a tensor or a PackedSequence): scripted alone, the
    saved file holds only the overloads, so a user's model calls them from its own forward."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor):
        return self.inner(x)


RECURRENT = ("RNN", "LSTM", "GRU")
for name, make, calls in NN:
    if make is None:
        skipped.append({"name": name, "why": "lazy modules initialise on their first call: torch.jit.script refuses them"})
        continue
    seeded(1)
    try:
        module = make()
    except Exception as e:  # noqa: BLE001
        skipped.append({"name": name, "why": f"not in PyTorch {torch.__version__}: {type(e).__name__}: {str(e).splitlines()[0][:120]}"})
        continue
    if name.split("_")[0] in RECURRENT:
        module = Wrapped(module)
    add(f"nn_{name}", module.eval(), calls, "nn")


# --- containers ---------------------------------------------------------------------------
class WithParameterList(nn.Module):
    def __init__(self):
        super().__init__()
        self.ps = nn.ParameterList([nn.Parameter(torch.randn(4)) for _ in range(3)])

    def forward(self, x):
        for p in self.ps:
            x = x * p
        return x


class WithParameterDict(nn.Module):
    def __init__(self):
        super().__init__()
        self.pd = nn.ParameterDict({"scale": nn.Parameter(torch.randn(4)), "shift": nn.Parameter(torch.randn(4))})

    def forward(self, x):
        return x * self.pd["scale"] + self.pd["shift"]


class WithModuleList(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x) if i % 2 == 0 else torch.tanh(layer(x))
        return x


class WithModuleDict(nn.Module):
    def __init__(self):
        super().__init__()
        self.heads = nn.ModuleDict({"mean": nn.Linear(4, 2), "std": nn.Linear(4, 2)})

    def forward(self, x) -> Dict[str, torch.Tensor]:
        out: Dict[str, torch.Tensor] = {}
        for k, m in self.heads.items():
            out[k] = m(x)
        return out


seeded(2)
add("container_ParameterList", WithParameterList(), x4, "container")
add("container_ParameterDict", WithParameterDict(), x4, "container")
add("container_ModuleList", WithModuleList(), x4, "container")
add("container_ModuleDict", WithModuleDict(), x4, "container")
add("container_Sequential_nested", nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.ReLU(), nn.Linear(8, 2))), x4, "container")


# --- the TorchScript language -------------------------------------------------------------
class Pt(NamedTuple):
    x: torch.Tensor
    y: torch.Tensor


class NamedTupleIO(nn.Module):
    def forward(self, p: Pt) -> Pt:
        return Pt(p.x + p.y, p.x * p.y)


class Color(enum.Enum):
    RED = 1
    GREEN = 2


class UsesEnum(nn.Module):
    def __init__(self):
        super().__init__()
        self.color = Color.GREEN

    def forward(self, x):
        if self.color == Color.GREEN:
            return x + float(self.color.value)
        return x


@torch.jit.interface
class Activation(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pass


class Doubler(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


class UsesInterface(nn.Module):
    act: Activation

    def __init__(self):
        super().__init__()
        self.act = Doubler()

    def forward(self, x):
        return self.act.forward(x) + 1


@torch.jit.script
class Accumulator:
    def __init__(self, start: torch.Tensor):
        self.total = start

    def add(self, x: torch.Tensor) -> torch.Tensor:
        self.total = self.total + x
        return self.total


class UsesScriptClass(nn.Module):
    def forward(self, x):
        acc = Accumulator(torch.zeros_like(x))
        acc.add(x)
        return acc.add(x * 3)


class Exported(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        return self.lin(x)

    @torch.jit.export
    def scaled(self, x: torch.Tensor, s: float, k: int) -> torch.Tensor:
        return self.lin(x) * s + k


class WithFinal(nn.Module):
    gain: torch.jit.Final[float]
    n: torch.jit.Final[int]
    __constants__ = ["mode"]

    def __init__(self):
        super().__init__()
        self.gain = 2.5
        self.n = 3
        self.mode = "sum"

    def forward(self, x):
        for _ in range(self.n):
            x = x * self.gain
        return x.sum() if self.mode == "sum" else x


class Hooked(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 4)

    def forward(self, x):
        return self.lin(x)


def pre_hook(module: Hooked, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
    return (inputs[0] * 2,)


def forward_hook(module: Hooked, inputs: Tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
    return output + 1


class Counter(nn.Module):
    """A buffer written in forward: state carried from call to call."""

    def __init__(self):
        super().__init__()
        self.register_buffer("count", torch.zeros(1))
        self.register_buffer("last", torch.zeros(4))

    def forward(self, x):
        self.count += 1
        out = x + self.last * 0.5
        self.last.copy_(x)
        return out * self.count


class Recurrent(nn.Module):
    """An attribute reassigned in forward (the hidden state of a deployed LSTM policy)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 6)
        self.h = torch.zeros(1, 1, 6)
        self.c = torch.zeros(1, 1, 6)

    def forward(self, x):
        y, (h, c) = self.lstm(x.unsqueeze(0), (self.h, self.c))
        self.h = h
        self.c = c
        return y.squeeze(0)


class Attributes(nn.Module):
    def __init__(self):
        super().__init__()
        self.i = 3
        self.f = 0.25
        self.b = True
        self.s = "scale"
        self.li: List[int] = [1, 2, 3]
        self.lf: List[float] = [0.5, 1.5]
        self.ls: List[str] = ["a", "b"]
        self.lt: List[torch.Tensor] = [torch.ones(4), torch.full((4,), 2.0)]
        self.d: Dict[str, torch.Tensor] = {"w": torch.arange(4.0)}
        self.di: Dict[str, int] = {"k": 2}
        self.t: Tuple[int, float] = (2, 0.5)
        self.o: Optional[torch.Tensor] = None
        self.ot: Optional[torch.Tensor] = torch.ones(4)
        self.dev = torch.device("cpu")
        self.dt = torch.float32

    def forward(self, x):
        y = x * self.f * self.i + sum(self.li) + self.lf[1] + float(len(self.ls)) + self.lt[1] + self.d["w"] * self.di["k"]
        y = y + self.t[0] * self.t[1]
        if self.b and self.s == "scale":
            y = y * 2
        if self.o is None and self.ot is not None:
            y = y + self.ot
        return y.to(self.dev).to(self.dt)


class Optionals(nn.Module):
    def forward(self, x: torch.Tensor, scale: Optional[float] = None, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
        if scale is not None:
            x = x * scale
        if bias is not None:
            x = x + bias
        return x


class ListsAndDicts(nn.Module):
    def forward(self, xs: List[torch.Tensor], d: Dict[str, torch.Tensor], t: Tuple[torch.Tensor, int]) -> Tuple[List[torch.Tensor], Dict[str, torch.Tensor], int]:
        out = [x * 2 for x in xs]
        e: Dict[str, torch.Tensor] = {}
        for k, v in d.items():
            e[k + "_neg"] = -v
        return out, e, t[1] + len(xs)


class ScalarsOut(nn.Module):
    def forward(self, x: torch.Tensor, n: int, name: str) -> Tuple[int, float, bool, str, List[int]]:
        return n * 2, float(x.sum()), bool(x.sum() > 0), name + "!", [n, n + 1]


class IntTensors(nn.Module):
    def forward(self, idx: torch.Tensor, table: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        return table[idx], idx * 2


class Control(nn.Module):
    def forward(self, x: torch.Tensor, n: int) -> torch.Tensor:
        i = 0
        while i < n:
            if i % 2 == 0:
                x = x + 1
            else:
                x = x * 0.5
            i += 1
        for j in range(3):
            x = x - j
        try_sum = torch.zeros(1)
        for k in [1, 2, 3]:
            try_sum += k
        return x + try_sum


seeded(3)
add("lang_NamedTuple", NamedTupleIO(), [[Pt(r(3), r(3))]], "language")
add("lang_Enum", UsesEnum(), x4, "language")
add("lang_Interface", UsesInterface(), x4, "language")
add("lang_ScriptClass", UsesScriptClass(), x4, "language")
add("lang_Export_forward", Exported(), x4, "language")
add("lang_Export_scaled", Exported(), [[r(2, 4), 0.5, 3]], "language", method="scaled")
add("lang_Final", WithFinal(), x4, "language")
hooked = Hooked()
hooked.register_forward_pre_hook(pre_hook)
hooked.register_forward_hook(forward_hook)
add("lang_Hooks", hooked, x4, "language")
add("lang_BufferWrittenInForward", Counter(), [[r(4)], [r(4)], [r(4)]], "language")
add("lang_AttributeReassigned", Recurrent(), [[r(1, 4)], [r(1, 4)], [r(1, 4)]], "language")
add("lang_Attributes", Attributes(), [[r(4)]], "language")
add("lang_Optional", Optionals(), [[r(4)], [r(4), 2.0], [r(4), 0.5, r(4)]], "language")
add("lang_ListsDicts", ListsAndDicts(), [[[r(2), r(2)], {"a": r(3)}, (r(1), 4)]], "language")
add("lang_Scalars", ScalarsOut(), [[r(4), 3, "go"]], "language")
add("lang_IntTensors", IntTensors(), [[torch.tensor([2, 0, 1]), r(3, 2)]], "language")
add("lang_ControlFlow", Control(), [[r(4), 5]], "language")
if HAVE_UNION:
    from typing import Union

    class UnionArg(nn.Module):
        def forward(self, x: torch.Tensor, k: Union[int, str]) -> torch.Tensor:
            if isinstance(k, int):
                return x * k
            return x + float(len(k))

    add("lang_Union", UnionArg(), [[r(4), 3], [r(4), "four"]], "language")
else:
    skipped.append({"name": "lang_Union", "why": f"Union needs PyTorch 1.10 or later ({torch.__version__})"})

# --- torch.jit.trace, frozen modules ------------------------------------------------------
seeded(4)
mlp = nn.Sequential(nn.Linear(4, 16), nn.ELU(), nn.Linear(16, 2))
add("trace_mlp", mlp, x4, "trace", make=lambda m: torch.jit.trace(m, (r(2, 4),)))
cnn = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)).eval()
add("trace_cnn", cnn, img, "trace", make=lambda m: torch.jit.trace(m, (r(1, 3, 8, 8),)))
lstm = nn.LSTM(4, 6).eval()
add("trace_lstm", lstm, seq, "trace", make=lambda m: torch.jit.trace(m, (r(5, 2, 4),)))
add("trace_module_dict_out", WithModuleDict(), x4, "trace", make=lambda m: torch.jit.trace(m, (r(2, 4),), strict=False))
add("frozen_mlp", mlp.eval(), x4, "frozen", make=lambda m: torch.jit.freeze(torch.jit.script(m)))
add("frozen_cnn", cnn, img, "frozen", make=lambda m: torch.jit.freeze(torch.jit.script(m)))
add("frozen_exported", Exported().eval(), [[r(2, 4), 0.5, 3]], "frozen", method="scaled",
    make=lambda m: torch.jit.freeze(torch.jit.script(m), preserved_attrs=["scaled"]))
add("frozen_optimized", mlp.eval(), x4, "frozen",
    make=lambda m: torch.jit.optimize_for_inference(torch.jit.script(m)) if hasattr(torch.jit, "optimize_for_inference") else torch.jit.freeze(torch.jit.script(m)))

# --- a custom operator from a library ----------------------------------------------------
if OPS_LIB:
    torch.ops.load_library(OPS_LIB)

    class CustomOp(nn.Module):
        def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return torch.ops.my_ops.scale_add(x, 2.0, b)

    add("custom_op", CustomOp(), [[r(4), r(4)]], "custom-op", needs="my_ops")

# --- not loadable: the legacy format ---------------------------------------------------------
# PyTorch 1.0 to 1.3 wrote TorchScript archives of format version 1: model.json (the module
# tree and tensor table as JSON), tensors/N, code/*.py and version "1" (torch/csrc/jit/
# export.cpp of 1.0). No PyTorch here writes them, so this one is laid out by hand; torchloop
# must say what it is and how to convert it, not call it damaged.


with zipfile.ZipFile(os.path.join(OUT, "legacy_v1.pt"), "w", zipfile.ZIP_STORED) as z:
    z.writestr("legacy_v1/version", "1\n")
    z.writestr("legacy_v1/model.json", json.dumps({"protoVersion": "1", "mainModule": {"name": "legacy_v1", "torchscriptArena": {"key": "code/legacy_v1.py"}},
                                                   "producerName": "pytorch", "producerVersion": "1.0", "tensors": [{"dims": ["4"], "dataType": "FLOAT", "data": {"key": "tensors/0"}}]}))
    z.writestr("legacy_v1/tensors/0", bytes(16))
    z.writestr("legacy_v1/code/legacy_v1.py", "op_version_set = 0\ndef forward(self, x: Tensor) -> Tensor:\n  return x\n")

manifest = {"torch": torch.__version__, "files": files, "skipped": skipped, "legacy": "legacy_v1.pt"}
with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump(manifest, f)
kinds = {}
for e in files:
    kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
print(f"corpus: {len(files)} files by PyTorch {torch.__version__} ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))}), "
      f"{len(skipped)} skipped -> {OUT}")
