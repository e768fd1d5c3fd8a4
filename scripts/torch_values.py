"""PyTorch values as JSON, the one encoding the zoo's golden outputs (zoo_golden.py) and the
valid-file corpus (make_corpus.py) share, and test/helpers/zoo.ts decodes: a tensor is
{"tensor": {"shape", "dtype", "data"}} (bools as 0/1, NaN and infinities as null), a tuple
{"tuple": [...]}, a list a JSON array, a dict {"dict": {...}}, scalars as themselves."""
import math

import torch


def enc(v):
    if isinstance(v, torch.Tensor):
        t = v.detach().cpu().contiguous()
        data = t.reshape(-1).tolist()
        if t.dtype == torch.bool:
            data = [int(x) for x in data]
        return {"tensor": {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", ""),
                           "data": [None if isinstance(x, float) and (math.isnan(x) or math.isinf(x)) else x for x in data]}}
    if isinstance(v, tuple):
        return {"tuple": [enc(x) for x in v]}
    if isinstance(v, list):
        return [enc(x) for x in v]
    if isinstance(v, dict):
        return {"dict": {k: enc(x) for k, x in v.items()}}
    return v
