"""Services: flush the queues now, replay dead letters after a fix, and backfill what
HA's recorder stored."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util

from .bridge import Bridge
from .const import (
    ATTR_ENTRY_ID,
    ATTR_SINCE,
    ATTR_STATISTICS,
    ATTR_UNTIL,
    DOMAIN,
    SERVICE_BACKFILL,
    SERVICE_FLUSH,
    SERVICE_REPLAY,
)
from .data import EntryData
from .recorded import recorder_loaded

SCHEMA = vol.Schema({vol.Optional(ATTR_ENTRY_ID): cv.string})
BACKFILL_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_SINCE): cv.datetime,
        vol.Optional(ATTR_UNTIL): cv.datetime,
        vol.Optional(ATTR_STATISTICS, default=True): cv.boolean,
        vol.Optional(ATTR_ENTRY_ID): cv.string,
    }
)


def _targets(hass: HomeAssistant, call: ServiceCall) -> list[EntryData]:
    """The loaded entries a call names (its ``config_entry_id``, or every one)."""
    entries: dict[str, EntryData] = {
        entry.entry_id: entry.runtime_data
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.state is ConfigEntryState.LOADED
    }
    entry_id = call.data.get(ATTR_ENTRY_ID)
    if entry_id is None:
        return list(entries.values())
    if entry_id not in entries:
        entry = hass.config_entries.async_get_entry(entry_id)
        state = entry.state if entry is not None and entry.domain == DOMAIN else None
        raise ServiceValidationError(
            f"wattbridge entry {entry_id} is not loaded"
            + (f" ({state.value})" if isinstance(state, ConfigEntryState) else ""),
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"entry_id": entry_id},
        )
    return [entries[entry_id]]


def async_setup_services(hass: HomeAssistant) -> None:
    """Register ``wattbridge.flush`` and ``wattbridge.replay_dead_letters``."""
    services: list[tuple[str, Callable[[Bridge], int], str]] = [
        (SERVICE_FLUSH, Bridge.flush, "settled"),
        (SERVICE_REPLAY, Bridge.replay_dead_letters, "replayed"),
    ]
    for name, action, answer in services:
        hass.services.async_register(
            DOMAIN,
            name,
            _each_bridge(hass, action, answer),
            SCHEMA,
            supports_response=SupportsResponse.OPTIONAL,
        )
    hass.services.async_register(
        DOMAIN,
        SERVICE_BACKFILL,
        _backfill(hass),
        BACKFILL_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )


def _backfill(hass: HomeAssistant) -> Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]:
    """The ``wattbridge.backfill`` handler; it answers ``{"states": n, "statistics": m}``."""

    async def handle(call: ServiceCall) -> ServiceResponse:
        since = dt_util.as_utc(call.data[ATTR_SINCE])
        until = dt_util.as_utc(call.data.get(ATTR_UNTIL) or dt_util.utcnow())
        if since >= until:
            raise ServiceValidationError(
                f"the time range is empty: {since} is not before {until}",
                translation_domain=DOMAIN,
                translation_key="empty_range",
                translation_placeholders={"since": str(since), "until": str(until)},
            )
        if not recorder_loaded(hass):
            raise ServiceValidationError(
                "HA's recorder is not running",
                translation_domain=DOMAIN,
                translation_key="no_recorder",
            )
        totals = {"states": 0, "statistics": 0}
        for data in _targets(hass, call):
            try:
                counts = await data.bridge.async_backfill(
                    since, until, statistics=call.data[ATTR_STATISTICS]
                )
            except RuntimeError as exc:  # the entry stopped meanwhile
                raise HomeAssistantError(f"backfill of {data.bridge.entry.title}: {exc}") from exc
            for key, count in counts.items():
                totals[key] += count
            await data.coordinator.async_request_refresh()
        return dict(totals)

    return handle


def _each_bridge(
    hass: HomeAssistant, action: Callable[[Bridge], int], answer: str
) -> Callable[[ServiceCall], Coroutine[Any, Any, ServiceResponse]]:
    """A service handler running ``action`` (blocking) on each targeted entry's bridge,
    then refreshing its sensors; it answers ``{answer: total}``."""

    async def handle(call: ServiceCall) -> ServiceResponse:
        total = 0
        for data in _targets(hass, call):
            total += await hass.async_add_executor_job(action, data.bridge)
            await data.coordinator.async_request_refresh()
        return {answer: total}

    return handle
