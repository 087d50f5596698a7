"""wattbridge inside Home Assistant: states of selected entities, delivered to an
energy platform through wattbridge's durable outbox.

Each config entry runs one wattbridge sink. Its outbox lives in
``<config>/.storage/wattbridge/<entry_id>/``, so readings queued when HA stops are
sent after it starts again; what HA's recorder stored while the entry was not
running is read from it at start (see ``recorded.py``).
"""

from __future__ import annotations

# isort: off
# First: the release carries wattbridge in _vendor/, which must be importable before
# the imports below (a development checkout uses the installed package).
from .vendored import VENDORED  # noqa: F401
# isort: on

import logging

from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryError, ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import ConfigType

from wattbridge import ConfigError, redact

from .bridge import Bridge, load_registry
from .const import DOMAIN
from .coordinator import StatusCoordinator
from .data import EntryData, WattbridgeConfigEntry
from .services import async_setup_services

_LOGGER = logging.getLogger(__package__)

PLATFORMS = [Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the services once, whether or not an entry is loaded."""
    async_setup_services(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: WattbridgeConfigEntry) -> bool:
    """Start the entry's wattbridge and follow the selected entities."""
    registry = await hass.async_add_executor_job(load_registry)
    bridge = Bridge(hass, entry, registry)
    try:
        await hass.async_add_executor_job(bridge.start)
    except ConfigError as exc:
        # The stored config no longer fits the installed sink (e.g. after an update).
        raise ConfigEntryError(redact(str(exc))) from None
    except OSError as exc:
        raise ConfigEntryNotReady(redact(f"cannot open the outbox: {exc}")) from exc
    coordinator = StatusCoordinator(hass, bridge)
    try:
        await coordinator.async_config_entry_first_refresh()
    except BaseException:
        await hass.async_add_executor_job(bridge.stop)
        raise
    entry.runtime_data = EntryData(bridge, coordinator, dict(entry.options))
    await bridge.async_listen()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))

    async def _async_stop(_event: Event) -> None:
        # HA does not unload entries when it stops: queue what is pending and stop
        # the runtime now, so its outbox is closed before the process ends.
        bridge.async_unlisten()
        await hass.async_add_executor_job(bridge.stop)

    entry.async_on_unload(hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_stop))
    return True


async def async_unload_entry(hass: HomeAssistant, entry: WattbridgeConfigEntry) -> bool:
    """Stop following states, put what is pending in the outbox, stop the runtime."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        bridge = entry.runtime_data.bridge
        bridge.async_unlisten()
        await hass.async_add_executor_job(bridge.stop)
    return unloaded


async def _async_options_updated(hass: HomeAssistant, entry: WattbridgeConfigEntry) -> None:
    """A new entity selection: reload, so the listener follows it.

    Called on every change of the entry; a change of its data (the reauth and
    reconfigure flows) reloads by itself, so only a change of the options reloads here.
    """
    loaded: EntryData | None = getattr(entry, "runtime_data", None)
    if loaded is None or dict(entry.options) != loaded.options:
        await hass.config_entries.async_reload(entry.entry_id)
