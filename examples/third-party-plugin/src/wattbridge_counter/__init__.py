"""An example third-party wattbridge plugin.

It adds a polled source type, ``counter``, that simulates a cumulative energy meter
in Wh, and shows three hooks: registering a source, reading the config at start-up,
and transforming readings on their way to a sink (Wh to kWh, when asked).
"""

from __future__ import annotations

from datetime import UTC, datetime

import attrs

from wattbridge import Reading, SourceContext, SourceRegister, StartupView, hookimpl

__version__ = "1.2.0"


@attrs.frozen
class CounterConfig:
    """Keys of a ``plugin = "counter"`` source table."""

    stream: str = "energy_wh"
    step: float = attrs.field(default=12.5, validator=attrs.validators.gt(0))
    """Wh added at every poll."""
    in_kwh: bool = False
    """Convert the readings to kWh before they reach a sink."""


class CounterSource:
    """A polled source: every poll, the counter grows by ``step`` Wh."""

    def __init__(self, config: CounterConfig, context: SourceContext) -> None:
        self.config = config
        self.total = 0.0

    def poll(self) -> list[Reading]:
        """One reading of the counter, now."""
        self.total += self.config.step
        return [Reading(self.config.stream, datetime.now(UTC), self.total, "Wh")]


_KWH_SOURCES: set[str] = set()


@hookimpl
def wattbridge_register_sources(register: SourceRegister) -> None:
    """Register the ``counter`` source type."""
    register("counter", CounterSource, CounterConfig)


@hookimpl
def wattbridge_startup(view: StartupView) -> None:
    """Remember which counter sources asked for kWh."""
    _KWH_SOURCES.clear()
    for name, config in view.sources.items():
        if isinstance(config, CounterConfig) and config.in_kwh:
            _KWH_SOURCES.add(name)


@hookimpl
def wattbridge_transform_reading(reading: Reading, source: str, sink: str) -> Reading | None:
    """Wh to kWh for the counters that asked for it; every other reading as it is."""
    if source in _KWH_SOURCES and reading.unit == "Wh" and isinstance(reading.value, float):
        return attrs.evolve(reading, value=reading.value / 1000, unit="kWh")
    return None
