"""The keys of a ``plugin = "replay"`` source table."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import attrs


@attrs.frozen
class ReplayConfig:
    """Keys of a ``plugin = "replay"`` source table."""

    path: Path | None = None
    """A JSON-lines file of readings to emit; without it, readings are generated."""
    rate: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    """Readings a second; 0 for as fast as the outboxes accept them."""
    count: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.ge(0))
    )
    """How many readings to generate; without it, forever."""
    streams: list[str] = attrs.field(factory=lambda: ["demo/power_w"])
    """Stream names the generated readings cycle through."""
    unit: str = "W"
    start: str = ""
    """ISO 8601 time of the first generated reading (default: when first started)."""
    step: timedelta = timedelta(seconds=1)
    """Time between two generated readings' timestamps."""
    chunk: int = attrs.field(default=1000, validator=attrs.validators.ge(1))
    """Readings per emit."""
