"""The ``replay`` source: readings from a JSON-lines file, or generated at a rate."""

from __future__ import annotations

from wattbridge import SourceRegister, hookimpl
from wattbridge_plugins.sources.replay.config import ReplayConfig
from wattbridge_plugins.sources.replay.source import ReplaySource

__all__ = ["ReplayConfig", "ReplaySource", "wattbridge_register_sources"]


@hookimpl
def wattbridge_register_sources(register: SourceRegister) -> None:
    """Register the ``replay`` source."""
    register("replay", ReplaySource, ReplayConfig)
