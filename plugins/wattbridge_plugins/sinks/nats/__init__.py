"""The ``nats`` sink: readings into a NATS JetStream stream, for scale-out uplinks."""

from __future__ import annotations

from wattbridge import SinkRegister, hookimpl
from wattbridge_plugins.common.extras import needs_extra
from wattbridge_plugins.sinks.nats.config import NatsSinkConfig

# nats-py is the `nats` extra: imported when the sink is built.
NatsSink = needs_extra("wattbridge_plugins.sinks.nats.sink:NatsSink", "nats")

__all__ = ["NatsSink", "NatsSinkConfig", "wattbridge_register_sinks"]


@hookimpl
def wattbridge_register_sinks(register: SinkRegister) -> None:
    """Register the ``nats`` sink."""
    register("nats", NatsSink, NatsSinkConfig)
