"""The ``replay`` source: readings from a JSON-lines file, or generated at a rate."""

from wattbridge_plugins.sources.replay.source import (
    ReplayConfig,
    ReplaySource,
    wattbridge_register_sources,
)

__all__ = ["ReplayConfig", "ReplaySource", "wattbridge_register_sources"]
