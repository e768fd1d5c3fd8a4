"""torchloop-env: run a Python simulator as a torchloop environment client over NATS.

The protocol is torchloop's remote-environment protocol, version 1 (docs/PROTOCOL.md in the
torchloop repository): the same subjects, headers and payload layout as torchloop's own
TypeScript RemoteEnvironmentClient.
"""
from .environment import Environment, Field
from .client import RemoteClient, PROTOCOL_VERSION

__all__ = ["Environment", "Field", "RemoteClient", "PROTOCOL_VERSION"]
