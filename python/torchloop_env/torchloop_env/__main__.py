"""python -m torchloop_env: run an environment class as a torchloop environment client."""
from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys


def load_class(spec: str):
    module, _, name = spec.partition(":")
    if not name:
        raise SystemExit(f"torchloop-env: --env must be module:Class, not {spec!r}")
    return getattr(importlib.import_module(module), name)


def main(argv=None) -> int:
    from .client import RemoteClient

    p = argparse.ArgumentParser(prog="torchloop-env", description=__doc__)
    p.add_argument("--servers", default=os.environ.get("NATS_URL"), required="NATS_URL" not in os.environ, help="NATS server(s), comma-separated (or $NATS_URL)")
    p.add_argument("--dataset", required=True)
    p.add_argument("--client-id", required=True)
    p.add_argument("--env", required=True, help="module:Class of an Environment subclass")
    p.add_argument("--options", default="{}", help="JSON options for the environment's constructor")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--batches", type=int, required=True)
    p.add_argument("--start", type=int, default=0, help="first batch number (to resume)")
    env = os.environ
    p.add_argument("--token", default=env.get("NATS_TOKEN"), help="NATS token (or $NATS_TOKEN)")
    p.add_argument("--user", default=env.get("NATS_USER"), help="NATS user (or $NATS_USER)")
    p.add_argument("--password", default=env.get("NATS_PASSWORD"), help="NATS password (or $NATS_PASSWORD)")
    p.add_argument("--nkey", default=env.get("NATS_NKEY"), help="a file holding an NKey seed (or $NATS_NKEY; needs nkeys or PyNaCl: the [nkeys] extra)")
    p.add_argument("--creds", default=env.get("NATS_CREDS"), help="a .creds file (or $NATS_CREDS; needs nkeys or PyNaCl: the [nkeys] extra)")
    p.add_argument("--tls-ca", default=env.get("NATS_CA"), help="CA certificate(s), PEM (or $NATS_CA)")
    p.add_argument("--tls-cert", default=env.get("NATS_CERT"), help="client certificate, PEM (or $NATS_CERT)")
    p.add_argument("--tls-key", default=env.get("NATS_KEY"), help="client key, PEM (or $NATS_KEY)")
    p.add_argument("--tls", action="store_true", help="require TLS")
    p.add_argument("--inbox", default=env.get("NATS_INBOX"), help="the prefix of reply subjects (default _INBOX; or $NATS_INBOX)")
    a = p.parse_args(argv)
    auth = {"token": a.token, "user": a.user, "password": a.password, "nkey": a.nkey, "creds": a.creds,
            "tls_ca": a.tls_ca, "tls_cert": a.tls_cert, "tls_key": a.tls_key, "tls": "1" if a.tls else None, "inbox": a.inbox}
    environment = load_class(a.env)(seed=a.seed, **json.loads(a.options))

    async def go() -> dict:
        client = RemoteClient(a.servers.split(","), a.dataset, a.client_id, environment, a.batch_size,
                              on_batch=lambda b: print(f"published {b}", flush=True), auth=auth)
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
