"""A Python client that breaks the protocol on purpose (test/data/python-client.test.ts).

It publishes five bad batches (no version, another version, a wrong shape, a NaN, a short
payload) and then one good one, waits for the sink's error replies, and prints them as JSON.
"""
import asyncio
import json
import sys

import numpy as np
from torchloop_env import Environment, RemoteClient


class Tiny(Environment):
    def create(self):
        self.define_training_fields([("x", (3,)), ("y", (2,))])

    def step(self):
        self.set_training_data(x=self.random.normal(size=3), y=self.random.normal(size=2))


async def main(servers, dataset):
    c = RemoteClient(servers, dataset, "py-bad", Tiny(seed=3), batch_size=4)
    await c.connect()
    c.env.create()
    good = c.produce()
    payload = c.encode(good)
    h = lambda b, **kw: {**c.headers(4, b), **kw}
    no_version = h(0)
    del no_version["tl-version"]
    await c.publish(payload, no_version)
    await c.publish(payload, h(1, **{"tl-version": "2"}))
    await c.publish(payload, h(2, **{"tl-fields": json.dumps([{"name": "x", "dtype": "float32", "shape": [4], "kind": "training"}, {"name": "y", "dtype": "float32", "shape": [2], "kind": "training"}])}))
    nan = {k: v.copy() for k, v in good.items()}
    nan["y"][2, 1] = np.nan
    await c.publish(c.encode(nan), h(3))
    await c.publish(payload[:-8], h(4))
    await c.publish(b"\x00garbage" * 3, h(5, **{"tl-count": "lots"}))
    await c.publish(payload, h(6))
    replies = await c.wait_rejections(6, timeout=60)
    print(json.dumps(replies), flush=True)
    await c.close()


asyncio.run(main(sys.argv[1], sys.argv[2]))
