"""A small Python environment for the secured-NATS test (test/grid/secure.test.ts)."""
from torchloop_env import Environment


class Tiny(Environment):
    def create(self):
        self.define_training_fields([("x", (3,)), ("y", (2,))])

    def step(self):
        self.set_training_data(x=self.random.normal(size=3), y=self.random.normal(size=2))
