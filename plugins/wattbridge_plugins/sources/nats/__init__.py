"""The ``nats`` source: an uplink pulling readings from a NATS JetStream stream, one
owner per partition, and the rate-limit stamps its sinks share across the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wattbridge import SharedRateLimits, SourceRegister, hookimpl
from wattbridge_plugins.sources.nats.config import NatsSourceConfig
from wattbridge_plugins.sources.nats.source import NatsSource

__all__ = [
    "NatsSource",
    "NatsSourceConfig",
    "wattbridge_register_sources",
    "wattbridge_shared_rate_limits",
]


@hookimpl
def wattbridge_register_sources(register: SourceRegister) -> None:
    """Register the ``nats`` source."""
    register("nats", NatsSource, NatsSourceConfig)


@hookimpl
def wattbridge_shared_rate_limits(sink: str, sources: Mapping[str, Any]) -> SharedRateLimits | None:
    """The stamps bucket of the nats source that names ``sink`` in ``shared_limits``."""
    for source in sources.values():
        if isinstance(source, NatsSource) and sink in source.stamps:
            return source.stamps[sink]
    return None
