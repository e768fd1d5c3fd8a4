"""The environment a simulator implements (DeepPhysX's Environment, torchloop's Environment)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

import numpy as np

DTYPES = {"float32": "<f4", "float64": "<f8", "int32": "<i4", "int64": "<i8", "uint8": "u1"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Field:
    name: str
    shape: Tuple[int, ...]
    dtype: str = "float32"
    kind: str = "training"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def header(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "kind": self.kind}


class Environment:
    """A simulation that produces samples. Subclass it:

        class Beam(Environment):
            def create(self):
                self.define_training_fields([("forces", (72, 3)), ("displacements", (72, 3))])
            def step(self):
                ...simulate...
                self.set_training_data(forces=f, displacements=u)

    Lifecycle: create() once, init() once, then step() per sample (check_sample() may reject
    it), apply_prediction() when a network drives it, close() at the end.
    """

    def __init__(self, seed: int = 0, **options):
        self.seed = int(seed)
        self.options = options
        self.random = np.random.default_rng(self.seed)
        self._fields: Dict[str, Field] = {}
        self._values: Dict[str, np.ndarray] = {}
        self._written: set = set()

    # The simulator's side.
    def create(self) -> None: ...
    def init(self) -> None: ...
    def step(self) -> None:
        raise NotImplementedError("step() computes one sample")
    def check_sample(self) -> bool:
        return True
    def apply_prediction(self, prediction: Dict[str, np.ndarray]) -> None: ...
    def close(self) -> None: ...

    # Fields.
    def define_training_fields(self, fields: Iterable[Sequence]) -> None:
        for f in fields:
            self._define(Field(f[0], tuple(int(d) for d in f[1]), f[2] if len(f) > 2 else "float32", "training"))

    def define_additional_fields(self, fields: Iterable[Sequence]) -> None:
        for f in fields:
            self._define(Field(f[0], tuple(int(d) for d in f[1]), f[2] if len(f) > 2 else "float32", "additional"))

    def set_training_data(self, **values) -> None:
        self._set(values)

    def set_additional_data(self, **values) -> None:
        self._set(values)

    @property
    def fields(self) -> List[Field]:
        return list(self._fields.values())

    def begin_sample(self) -> None:
        self._written.clear()

    def sample(self) -> Dict[str, np.ndarray]:
        missing = [n for n in self._fields if n not in self._written]
        if missing:
            raise ValueError(f"the sample has no value for field '{missing[0]}': step() must set every defined field")
        return self._values

    def _define(self, field: Field) -> None:
        if not _NAME.match(field.name):
            raise ValueError(f"expected a field name of letters, digits and _ but received {field.name!r}")
        if field.dtype not in DTYPES:
            raise ValueError(f"field '{field.name}': dtype {field.dtype!r} is not one of {', '.join(DTYPES)}")
        if field.name in self._fields:
            raise ValueError(f"field '{field.name}' is already defined")
        self._fields[field.name] = field
        self._values[field.name] = np.zeros(field.size, dtype=DTYPES[field.dtype])

    def _set(self, values: Dict[str, object]) -> None:
        for name, value in values.items():
            field = self._fields.get(name)
            if field is None:
                raise KeyError(f"unknown field '{name}' (defined: {', '.join(self._fields)})")
            a = np.asarray(value).reshape(-1)
            if a.size != field.size:
                raise ValueError(f"expected {field.size} values for field '{name}' (shape {list(field.shape)}) but received {a.size}")
            self._values[name][:] = a
            self._written.add(name)
