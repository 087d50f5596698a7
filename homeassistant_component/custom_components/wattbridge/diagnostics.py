"""Diagnostics: the entry, the queue's status and the counters, every secret redacted.

Secrets are found two ways, so none slips through: by key (every field typed
:class:`wattbridge.Secret` in the sink's config class, nested ones included, plus the
usual names), and by value (wattbridge's :func:`~wattbridge._secret.redact` blanks every
secret the running config loaded, wherever it appears, e.g. inside an error text).
"""

from __future__ import annotations

from typing import Any

import attrs
from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from wattbridge import redact

from .const import CONF_SINK_TYPE
from .data import WattbridgeConfigEntry
from .redaction import ALWAYS_REDACT, secret_keys


def _redact_values(data: Any) -> Any:
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {key: _redact_values(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_redact_values(value) for value in data]
    return data


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: WattbridgeConfigEntry
) -> dict[str, Any]:
    """The entry's config and the sink's status, with secrets redacted."""
    to_redact = set(ALWAYS_REDACT)
    loaded = entry.runtime_data if entry.state is ConfigEntryState.LOADED else None
    status: dict[str, Any] | None = None
    counts: dict[str, int] = {}
    if loaded is not None:
        bridge = loaded.bridge
        sink_type = bridge.registry.sinks.get(entry.data[CONF_SINK_TYPE])
        if sink_type is not None:
            to_redact |= secret_keys(sink_type.config_class)
        if bridge.runtime is not None:
            status = attrs.asdict(await hass.async_add_executor_job(bridge.sink.status))
        counts = bridge.counts()
    result = {
        "entry": {
            "title": entry.title,
            "data": dict(entry.data),
            "options": dict(entry.options),
        },
        "status": status,
        "states": counts,
    }
    redacted: dict[str, Any] = _redact_values(async_redact_data(result, to_redact))
    return redacted
