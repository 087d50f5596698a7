"""Polls the sink's outbox status for the sensors (a file read: in the executor)."""

from __future__ import annotations

import logging

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed

from wattbridge import redact
from wattbridge.commands import OutboxStatus

from .bridge import Bridge
from .const import DOMAIN, STATUS_INTERVAL

_LOGGER = logging.getLogger(__package__)


class StatusCoordinator(DataUpdateCoordinator[OutboxStatus]):
    """The outbox's depth, dead letters, last success and last error."""

    def __init__(self, hass: HomeAssistant, bridge: Bridge) -> None:
        super().__init__(hass, _LOGGER, name=DOMAIN, update_interval=STATUS_INTERVAL)
        self.bridge = bridge

    async def _async_update_data(self) -> OutboxStatus:
        if self.bridge.runtime is None:
            raise UpdateFailed("wattbridge is not running")
        status = await self.hass.async_add_executor_job(self.bridge.sink.status)
        if status.halted:
            # The platform refused the credential: sending stopped (readings stay
            # queued). Ask the user for a new token: HA starts the reauth flow.
            raise ConfigEntryAuthFailed(redact(f"the platform refused: {status.halted}"))
        return status
