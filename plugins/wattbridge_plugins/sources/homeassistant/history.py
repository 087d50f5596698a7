"""Home Assistant's recorder over the websocket API: the state changes it stored
(``history/history_during_period``) and its hourly long-term statistics
(``recorder/statistics_during_period``), as the source's gap reads and the backfill
command ask for them. Message building and parsing only, no I/O.

History comes in HA's compressed form, one list per entity: ``s`` the state, ``a`` the
attributes (``no_attributes`` false: on every state, though HA may leave them out of
later ones), ``lu`` last_updated and ``lc`` last_changed in epoch seconds (``lc`` only
when it differs from ``lu``). Statistics rows carry ``start``/``end`` in epoch
milliseconds and, for sensors with a state class, ``state`` (the state at the end of
the hour) and ``sum``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeGuard

from wattbridge import InvalidReading, Reading


def history_command(
    entity_ids: Iterable[str], start: datetime, end: datetime | None = None
) -> dict[str, Any]:
    """The websocket command for every recorded state change of the entities from
    ``start`` (the state at ``start`` included) until ``end`` (default: now)."""
    command: dict[str, Any] = {
        "type": "history/history_during_period",
        "start_time": start.astimezone(UTC).isoformat(),
        "entity_ids": sorted(entity_ids),
        "include_start_time_state": True,
        "significant_changes_only": False,
        "minimal_response": False,
        "no_attributes": False,
    }
    if end is not None:
        command["end_time"] = end.astimezone(UTC).isoformat()
    return command


def states_from_history(result: object) -> list[dict[str, Any]]:
    """State objects (as ``get_states`` gives them) from a history result, oldest first
    per entity. Odd entries are left out: the converter then never sees them."""
    if not isinstance(result, Mapping):
        return []
    states: list[dict[str, Any]] = []
    for entity_id, rows in result.items():
        if not isinstance(rows, list):
            continue
        attributes: object = {}
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            # HA sends the attributes with the first state and may leave them out of
            # later ones when they did not change.
            attributes = row.get("a", attributes)
            states.append(
                {
                    "entity_id": entity_id,
                    "state": row.get("s"),
                    "attributes": attributes,
                    "last_changed": row.get("lc", row.get("lu")),
                }
            )
    return states


def statistics_command(
    statistic_ids: Iterable[str], start: datetime, end: datetime | None = None
) -> dict[str, Any]:
    """The websocket command for the hourly long-term statistics (their ``state``) of
    the statistic ids (a sensor's statistic id is its entity id)."""
    command: dict[str, Any] = {
        "type": "recorder/statistics_during_period",
        "start_time": start.astimezone(UTC).isoformat(),
        "statistic_ids": sorted(statistic_ids),
        "period": "hour",
        "types": ["state"],
    }
    if end is not None:
        command["end_time"] = end.astimezone(UTC).isoformat()
    return command


def readings_from_statistics(result: object, units: Mapping[str, str]) -> list[Reading]:
    """One reading per hour and statistic: the state at the hour's end, timestamped
    with that end. Rows without a numeric state or end are left out."""
    if not isinstance(result, Mapping):
        return []
    readings: list[Reading] = []
    for statistic_id, rows in result.items():
        if not isinstance(rows, list):
            continue
        for row in rows:
            if not isinstance(row, Mapping):
                continue
            value, end = row.get("state"), row.get("end")
            if not (_number(value) and _number(end)):
                continue
            try:
                readings.append(
                    Reading(
                        stream=str(statistic_id),
                        timestamp=datetime.fromtimestamp(end / 1000, UTC),
                        value=float(value),
                        unit=units.get(str(statistic_id), ""),
                    )
                )
            except (InvalidReading, OverflowError, OSError, ValueError):
                continue
    return readings


def _number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
