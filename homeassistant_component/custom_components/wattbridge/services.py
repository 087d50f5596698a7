"""Services: flush the queues now, and replay dead letters after a fix."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import voluptuous as vol
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse, SupportsResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .bridge import Bridge
from .const import ATTR_ENTRY_ID, DOMAIN, SERVICE_FLUSH, SERVICE_REPLAY

SCHEMA = vol.Schema({vol.Optional(ATTR_ENTRY_ID): cv.string})


def _targets(hass: HomeAssistant, call: ServiceCall) -> list[Any]:
    entries = hass.data.get(DOMAIN, {})
    entry_id = call.data.get(ATTR_ENTRY_ID)
    if entry_id is None:
        return list(entries.values())
    if entry_id not in entries:
        entry = hass.config_entries.async_get_entry(entry_id)
        state = entry.state if entry is not None else None
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


def _each_bridge(
    hass: HomeAssistant, action: Callable[[Bridge], int], answer: str
) -> Callable[[ServiceCall], Awaitable[ServiceResponse]]:
    """A service handler running ``action`` (blocking) on each targeted entry's bridge,
    then refreshing its sensors; it answers ``{answer: total}``."""

    async def handle(call: ServiceCall) -> ServiceResponse:
        total = 0
        for data in _targets(hass, call):
            total += await hass.async_add_executor_job(action, data.bridge)
            await data.coordinator.async_request_refresh()
        return {answer: total}

    return handle
