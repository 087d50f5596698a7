"""Each source's health for ``wattbridge status``, from the counters and errors the
runtime saves (``runtime.json``): readings, its counters, and the errors it or its
parts reported (a meter down, a file in ``failed/``, a broker or HA connection lost)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs


@attrs.frozen
class SourceHealth:
    """One source as status shows it."""

    readings: int
    counters: dict[str, int]
    """Its other counters (``files_failed``, ``failures``, ``polls_skipped`` ...)."""
    errors: dict[str, dict[str, Any]]
    """Open errors by part ("" for the source itself): ``{"message", "at"}``."""

    @property
    def healthy(self) -> bool:
        """True while no error of the source or its parts is open."""
        return not self.errors


def source_health(names: Iterable[str], saved: Mapping[str, Any]) -> dict[str, SourceHealth]:
    """The health of each source in ``names`` from a saved stats snapshot."""
    counters: Mapping[str, int] = saved.get("counters", {})
    errors: Mapping[str, dict[str, Any]] = saved.get("errors", {})
    health = {}
    for name in names:
        own = f"source.{name}"
        mine = {k[len(own) + 1 :]: v for k, v in counters.items() if k.startswith(own + ".")}
        parts = {
            ("" if key == own else key[len(own) + 1 :]): error
            for key, error in errors.items()
            if key == own or key.startswith(own + ".")
        }
        readings = int(mine.pop("readings", 0))
        health[name] = SourceHealth(readings, dict(sorted(mine.items())), parts)
    return health


def health_rows(health: Mapping[str, SourceHealth]) -> list[list[str]]:
    """Table rows: source, state, readings, counters, last error."""
    rows = []
    for name, source in health.items():
        state = "ok" if source.healthy else f"{len(source.errors)} error(s)"
        counters = ", ".join(f"{k} {v}" for k, v in source.counters.items()) or "-"
        latest = max(source.errors.items(), key=lambda item: item[1].get("at", 0), default=None)
        if latest is None:
            error = "-"
        else:
            part, detail = latest
            error = f"{part + ': ' if part else ''}{detail.get('message', '')}"
        rows.append([name, state, str(source.readings), counters[:60], error[:100]])
    return rows
