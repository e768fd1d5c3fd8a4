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
                 batch_size: int, max_wrong_samples: int = 10, on_batch: Optional[Callable[[int], None]] = None):
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
        self.subjects = subjects(dataset)
        self.rejections: List[dict] = []
        self.rejected_samples = 0
        self._nc = None
        self._js = None
        self._replies = asyncio.Event()

    async def connect(self) -> None:
        import nats  # nats-py
        try:
            self._nc = await nats.connect(servers=self.servers, name=f"torchloop-env {self.client_id}", allow_reconnect=True, max_reconnect_attempts=5, connect_timeout=5)
        except Exception as e:  # one clear line, not a traceback storm
            raise ConnectionError(f"cannot reach the NATS server at {', '.join(self.servers)}: {e}") from None
        self._js = self._nc.jetstream()
        s = self.subjects
        try:
            await self._js.stream_info(s["stream"])
        except Exception:
            try:
                await self._js.add_stream(name=s["stream"], subjects=[s["samples"]], duplicate_window=120)
            except Exception:
                await self._js.stream_info(s["stream"])  # another client made it meanwhile
        await self._nc.subscribe(f"{s['errors']}.{self.client_id}", cb=self._on_error)

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
        await self._js.publish(self.subjects["samples"], payload, headers=headers)

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
