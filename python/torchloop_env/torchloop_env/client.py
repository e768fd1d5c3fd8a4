"""The client side of torchloop's remote-environment protocol, version 1 (docs/PROTOCOL.md)."""
from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from .environment import DTYPES, Environment

PROTOCOL_VERSION = "1"
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def subjects(dataset: str) -> Dict[str, str]:
    if not re.match(r"^[A-Za-z0-9_-]+$", dataset):
        raise ValueError(f"expected a dataset name of letters, digits, - and _ but received {dataset!r}")
    return {"stream": f"TORCHLOOP_{dataset}", "samples": f"torchloop.{dataset}.samples", "errors": f"torchloop.{dataset}.errors"}


class RemoteClient:
    """Runs an Environment here and streams its batches to a torchloop sink over NATS JetStream.

    Each batch is published with the message id ``<client_id>/<batch>``: JetStream drops a
    republished batch within its two-minute window, and the sink stores each key once, so a
    client that is killed and started again with the same id and seed loses and doubles
    nothing. A batch the sink refuses comes back as an error reply, kept in ``rejections``.
    """

    def __init__(self, servers: Union[str, Sequence[str]], dataset: str, client_id: str, environment: Environment,
                 batch_size: int, max_wrong_samples: int = 10, on_batch: Optional[Callable[[int], None]] = None,
                 auth: Optional[Dict[str, str]] = None):
        if not _ID.match(client_id):
            raise ValueError(f"expected a client id of 1 to 64 letters, digits, - and _ but received {client_id!r}")
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.servers = [s if "://" in s else f"nats://{s}" for s in self.servers]
        self.dataset = dataset
        self.client_id = client_id
        self.env = environment
        self.batch_size = int(batch_size)
        self.max_wrong = int(max_wrong_samples)
        self.on_batch = on_batch
        # token | user + password | nkey (a seed file) | creds (a .creds file); tls_ca, tls_cert, tls_key, tls; inbox.
        self.auth = {k: v for k, v in (auth or {}).items() if v}
        self.subjects = subjects(dataset)
        self.rejections: List[dict] = []
        self.rejected_samples = 0
        self._nc = None
        self._js = None
        self._replies = asyncio.Event()

    async def connect(self) -> None:
        import nats  # nats-py
        a = self.auth
        opts = {}
        if "inbox" in a:
            opts["inbox_prefix"] = a["inbox"]
        if "token" in a:
            opts["token"] = a["token"]
        if "user" in a:
            opts["user"], opts["password"] = a["user"], a.get("password")
        if "nkey" in a:
            opts["nkeys_seed"] = a["nkey"]
        if "creds" in a:
            opts["user_credentials"] = a["creds"]
        if any(k in a for k in ("tls_ca", "tls_cert", "tls")):
            import ssl
            ctx = ssl.create_default_context(cafile=a.get("tls_ca"))
            if "tls_cert" in a:
                ctx.load_cert_chain(a["tls_cert"], a.get("tls_key"))
            opts["tls"] = ctx
            opts["tls_hostname"] = None
        method = ("the credentials in " + a["creds"]) if "creds" in a else ("the NKey in " + a["nkey"]) if "nkey" in a else "a token" if "token" in a else (f"user '{a['user']}' and password") if "user" in a else "no credentials"
        if "nkey" in a or "creds" in a:
            import os
            f = a.get("creds") or a["nkey"]
            if not os.access(f, os.R_OK):
                raise ConnectionError(f"{method}: cannot read the file")
            try:
                from .nkeys_compat import install
                install()  # nats-py signs with nkeys; without it, with PyNaCl
            except ModuleNotFoundError:
                raise ConnectionError(f"{method} needs the Python package 'nkeys' or 'pynacl' (pip install 'torchloop-env[nkeys]')") from None
        errors = []
        try:
            self._nc = await nats.connect(servers=self.servers, name=f"torchloop-env {self.client_id}", allow_reconnect=False,
                                          max_reconnect_attempts=0, connect_timeout=10, error_cb=self._quiet(errors), **opts)
        except ValueError as e:  # an unreadable NKey seed (nkeys_compat.ErrInvalidSeed, or nkeys' own)
            raise ConnectionError(f"{method}: {e}") from None
        except Exception as e:  # one clear line, naming the method and never a secret
            text = " ".join(dict.fromkeys([str(e), *errors]))
            for secret in (a.get("token"), a.get("password")):
                if secret:
                    text = text.replace(secret, "***")
            kind = "refused" if any(w in text.lower() for w in ("authoriz", "authenticat", "permission")) else "cannot be reached with"
            raise ConnectionError(f"the NATS server at {', '.join(self.servers)} {kind} {method}: {text.strip()}") from None
        self._js = self._nc.jetstream()
        s = self.subjects
        # Make the stream when it is not there and this client may; a client with least privilege
        # may only publish samples, and the trainer's sink makes the stream.
        api = self._nc.jetstream(timeout=2)
        try:
            await api.stream_info(s["stream"])
        except Exception:
            try:
                await api.add_stream(name=s["stream"], subjects=[s["samples"]], duplicate_window=120)
            except Exception:
                pass
        await self._nc.subscribe(f"{s['errors']}.{self.client_id}", cb=self._on_error)

    @staticmethod
    def _quiet(errors):
        async def cb(e):
            errors.append(str(e))
        return cb

    async def _on_error(self, msg) -> None:
        try:
            reply = json.loads(msg.data)
        except ValueError:
            return
        self.rejections.append(reply)
        print(f"torchloop-env: the sink refused batch {reply.get('key')}: {reply.get('reason')}", file=sys.stderr, flush=True)
        self._replies.set()

    async def wait_rejections(self, count: int, timeout: float = 30.0) -> List[dict]:
        """Waits until `count` error replies have arrived (or the timeout) and returns them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.rejections) < count and loop.time() < deadline:
            self._replies.clear()
            try:
                await asyncio.wait_for(self._replies.wait(), max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                break
        return self.rejections

    def headers(self, count: int, batch: int) -> Dict[str, str]:
        return {
            "tl-version": PROTOCOL_VERSION,
            "tl-fields": json.dumps([f.header() for f in self.env.fields], separators=(",", ":")),
            "tl-count": str(count),
            "tl-client": self.client_id,
            "tl-batch": str(batch),
            "Nats-Msg-Id": f"{self.client_id}/{batch}",
        }

    def produce(self) -> Dict[str, np.ndarray]:
        """One batch from the environment: batch_size samples that passed check_sample()."""
        env = self.env
        out = {f.name: np.zeros((self.batch_size, f.size), dtype=DTYPES[f.dtype]) for f in env.fields}
        for i in range(self.batch_size):
            wrong = 0
            while True:
                env.begin_sample()
                env.step()
                if env.check_sample():
                    break
                wrong += 1
                if wrong > self.max_wrong:
                    raise RuntimeError(f"the environment rejected {wrong} samples in a row (max_wrong_samples is {self.max_wrong})")
            values = env.sample()
            for f in env.fields:
                out[f.name][i] = values[f.name]
        return out

    def encode(self, values: Dict[str, np.ndarray]) -> bytes:
        return b"".join(np.ascontiguousarray(values[f.name], dtype=DTYPES[f.dtype]).tobytes() for f in self.env.fields)

    async def publish(self, payload: bytes, headers: Dict[str, str]) -> None:
        try:
            await self._js.publish(self.subjects["samples"], payload, headers=headers)
        except Exception as e:
            raise RuntimeError(f"publishing to {self.subjects['samples']} failed ({type(e).__name__}: {e}): is the stream "
                               f"{self.subjects['stream']} there (a sink makes it), and may this client publish to it?") from None

    async def run(self, batches: int, start: int = 0) -> Dict[str, int]:
        """Creates the environment, publishes batches start..batches-1, closes it."""
        if self._nc is None:
            await self.connect()
        env = self.env
        env.create()
        env.init()
        try:
            for b in range(start, batches):
                values = self.produce()
                await self.publish(self.encode(values), self.headers(self.batch_size, b))
                if self.on_batch:
                    self.on_batch(b)
        finally:
            env.close()
        return {"published": batches - start, "samples": (batches - start) * self.batch_size}

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.drain()
            self._nc = None
