"""The ``nats`` source: an uplink pulling readings from a NATS JetStream stream, one
owner per partition, and the rate-limit stamps its sinks share across the cluster."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wattbridge import SharedRateLimits, SourceRegister, StartupView, hookimpl
from wattbridge_plugins.common.extras import MissingExtra, load, needs_extra
from wattbridge_plugins.sources.nats.config import NatsSourceConfig

# nats-py is the `nats` extra: imported when the source is built.
_SOURCE = "wattbridge_plugins.sources.nats.source:NatsSource"
NatsSource = needs_extra(_SOURCE, "nats")

__all__ = [
    "NatsSource",
    "NatsSourceConfig",
    "wattbridge_register_sources",
    "wattbridge_shared_rate_limits",
    "wattbridge_startup",
]


@hookimpl
def wattbridge_register_sources(register: SourceRegister) -> None:
    """Register the ``nats`` source."""
    register("nats", NatsSource, NatsSourceConfig)


@hookimpl
def wattbridge_shared_rate_limits(sink: str, sources: Mapping[str, Any]) -> SharedRateLimits | None:
    """The stamps bucket of the nats source that names ``sink`` in ``shared_limits``."""
    try:
        source_class = load(_SOURCE, "nats")
    except MissingExtra:  # then no nats source can have been built
        return None
    for source in sources.values():
        if isinstance(source, source_class) and sink in source.stamps:
            stamps: SharedRateLimits = source.stamps[sink]
            return stamps
    return None


@hookimpl
def wattbridge_startup(view: StartupView) -> None:
    """Refuse to start when a nats source's ``shared_limits`` names a sink the config
    does not have: its rate limits would silently not be shared."""
    for name, config in view.sources.items():
        if isinstance(config, NatsSourceConfig):
            missing = sorted(set(config.shared_limits) - set(view.sinks))
            if missing:
                raise ValueError(
                    f"[sources.{name}] shared_limits names {missing}, which are not sinks "
                    f"of this config (its sinks: {sorted(view.sinks)})"
                )
