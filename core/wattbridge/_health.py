"""How healthy a config's delivery is, from its outboxes and the runtime's counters:
one judgement for ``wattbridge status``'s exit code and for ``/healthz``.

- failing: a sink is halted (the platform refused its credentials) or has dead letters
  (readings the platform refused, waiting for a look);
- warning: a sink is retrying (its latest attempt failed and readings wait) or cannot
  open, or a source is failing;
- ok: none of these.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs

from wattbridge._outbox import OutboxStatus


class Level(enum.IntEnum):
    """Health levels; their values are ``wattbridge status``'s exit codes."""

    OK = 0
    WARNING = 1
    FAILING = 2


@attrs.frozen
class Health:
    """The overall level and one reason per problem found."""

    level: Level
    reasons: tuple[str, ...]
    unhealthy_sinks: frozenset[str] = frozenset()
    unhealthy_sources: frozenset[str] = frozenset()


def sink_problem(
    name: str, status: OutboxStatus | Mapping[str, str] | None
) -> tuple[Level, str] | None:
    """What is wrong with sink ``name`` (None: nothing); ``status`` a mapping with
    ``damaged`` for an outbox SQLite cannot read."""
    if status is None:
        return None
    if not isinstance(status, OutboxStatus):
        return Level.FAILING, f"sink {name}: {status.get('damaged', status)}"
    if status.halted:
        return Level.FAILING, f"sink {name}: halted: {status.halted}"
    if status.dead_letters:
        return Level.FAILING, (
            f"sink {name}: {status.dead_letters} dead letter(s) "
            f"(wattbridge deadletter list --sink {name})"
        )
    failed_last = status.last_error_at is not None and (
        status.last_success is None or status.last_error_at > status.last_success
    )
    if failed_last and status.depth:
        return Level.WARNING, f"sink {name}: retrying: {status.last_error}"
    return None


def assess(
    sinks: Mapping[str, OutboxStatus | Mapping[str, str] | None], stats: Mapping[str, Any]
) -> Health:
    """Judge the outboxes' statuses (None: never ran) and the runtime's saved errors
    (``Stats.snapshot()``: ``errors`` keyed ``source.NAME[.part]`` count here)."""
    found: list[tuple[Level, str]] = []
    bad_sinks: set[str] = set()
    bad_sources: set[str] = set()
    for name, status in sinks.items():
        problem = sink_problem(name, status)
        if problem is not None:
            found.append(problem)
            bad_sinks.add(name)
    for key, error in sorted(stats.get("errors", {}).items()):
        kind, _, rest = key.partition(".")
        name = rest.split(".")[0]
        message = error.get("message") if isinstance(error, dict) else error
        if kind == "source":
            found.append((Level.WARNING, f"source {rest}: {message}"))
            bad_sources.add(name)
        elif kind == "sink" and rest.endswith(".outbox"):
            # Its outbox cannot say it: deleted, damaged, or on a full disk.
            found.append((Level.FAILING, f"sink {name}: {message}"))
            bad_sinks.add(name)
        # A sink's own errors (cannot open, a failed flush) are in its outbox's state,
        # judged above, and cleared there by its next success.
    level = max((lvl for lvl, _ in found), default=Level.OK)
    return Health(
        level, tuple(reason for _, reason in found), frozenset(bad_sinks), frozenset(bad_sources)
    )
