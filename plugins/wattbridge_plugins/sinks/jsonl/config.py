"""The keys of a ``plugin = "jsonl"`` sink table."""

from __future__ import annotations

from pathlib import Path

import attrs


@attrs.frozen
class JsonlConfig:
    """Keys of a ``plugin = "jsonl"`` sink table."""

    path: Path | None = None
    """File to append to; without it, lines go to standard output."""
    fsync: bool = True
    """Sync the file to disk before a batch counts as delivered."""
    batch: int = attrs.field(default=10_000, validator=attrs.validators.ge(1))
    """Readings a write may hold."""
