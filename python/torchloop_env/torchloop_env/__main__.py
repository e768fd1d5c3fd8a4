"""python -m torchloop_env: run an environment class as a torchloop environment client."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import sys


def load_class(spec: str):
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"torchloop-env: --env must be module:Class, not {spec!r}")
    return getattr(importlib.import_module(module), name)


def main(argv=None) -> int:
    from .client import RemoteClient

    p = argparse.ArgumentParser(prog="torchloop-env", description=__doc__)
    p.add_argument("--servers", required=True, help="NATS server(s), comma-separated")
    p.add_argument("--dataset", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--env", required=True, help="module:Class of an Environment subclass")
    p.add_argument("--options", default="{}", help="JSON options for the environment's constructor")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--batches", type=int, required=True)
    p.add_argument("--start", type=int, default=0, help="first batch number (to resume)")
    a = p.parse_args(argv)
    env = load_class(a.env)(seed=a.seed, **json.loads(a.options))

    async def go() -> dict:
        client = RemoteClient(a.servers.split(","), a.dataset, a.client_id, env, a.batch_size,
                              on_batch=lambda b: print(f"published {b}", flush=True))
        try:
            return await client.run(a.batches, a.start)
        finally:
            await client.close()

    try:
        result = asyncio.run(go())
    except (ConnectionError, ValueError, RuntimeError) as e:
        print(f"torchloop-env: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
