"""What Home Assistant's recorder stored for the selected entities while this entry was
not running (an unload, a reload, a failed start, HA stopped or killed).

The bridge remembers, per entity, the time of the last reading it put in the outbox
(``last_seen.json``). At start it reads each selected entity's recorded state changes
from that time until now, so every change made in the gap is sent; the one at the
start time itself is a repeat the converter drops. Without the recorder (a user may
disable it) only the current states are read, as before, and a warning says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from homeassistant.core import HomeAssistant, State

_LOGGER = logging.getLogger(__package__)

RECORDER = "recorder"


def recorder_loaded(hass: HomeAssistant) -> bool:
    """True if HA's recorder runs (history can be read)."""
    return RECORDER in hass.config.components


async def async_recorded_changes(
    hass: HomeAssistant,
    entity_ids: Iterable[str],
    since: Mapping[str, datetime],
    end: datetime,
) -> list[State]:
    """Every recorded state of each entity from ``since[entity]`` (inclusive) until
    ``end``, oldest first per entity; entities not in ``since`` are not read."""
    wanted = [entity_id for entity_id in entity_ids if entity_id in since]
    if not wanted:
        return []
    if not recorder_loaded(hass):
        _LOGGER.warning(
            "the recorder is not running: state changes made while wattbridge was "
            "stopped cannot be read, only the current states are sent"
        )
        return []
    from homeassistant.components.recorder import get_instance, history

    def read() -> list[State]:
        found: list[State] = []
        for entity_id in wanted:
            changes = history.state_changes_during_period(
                hass, since[entity_id], end, entity_id, include_start_time_state=True
            )
            found.extend(changes.get(entity_id, []))
        return found

    instance = get_instance(hass)
    # Queue behind the recorder's pending writes, so what HA reported just before
    # this read is in the database when it runs.
    await instance.async_block_till_done()
    return await instance.async_add_executor_job(read)


async def async_recorded_history(
    hass: HomeAssistant, entity_ids: Iterable[str], start: datetime, end: datetime
) -> list[State]:
    """Every recorded state of the entities between ``start`` and ``end`` (a backfill)."""
    ids = list(entity_ids)
    return await async_recorded_changes(hass, ids, dict.fromkeys(ids, start), end)


async def async_hourly_statistics(
    hass: HomeAssistant, statistic_ids: Iterable[str], start: datetime, end: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    """The recorder's hourly long-term statistics of the entities: for each, the
    (end of the hour, state at that time) pairs between ``start`` and ``end``.

    Long-term statistics outlive the recorded states (purged after 10 days by default),
    so a backfill reaches further back with them.
    """
    ids = set(statistic_ids)
    if not ids or not recorder_loaded(hass):
        return {}
    from homeassistant.components.recorder import get_instance, statistics

    def read() -> dict[str, list[tuple[datetime, float]]]:
        rows = statistics.statistics_during_period(hass, start, end, ids, "hour", None, {"state"})
        found: dict[str, list[tuple[datetime, float]]] = {}
        for statistic_id, series in rows.items():
            pairs = found.setdefault(statistic_id, [])
            for row in series:
                value, when = row.get("state"), row.get("end")
                if isinstance(value, int | float) and isinstance(when, int | float):
                    pairs.append((datetime.fromtimestamp(when, UTC), float(value)))
        return found

    instance = get_instance(hass)
    await instance.async_block_till_done()
    return await instance.async_add_executor_job(read)
