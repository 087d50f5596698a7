"""The base of this integration's entities: one device per config entry (its sink)."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import CONF_SINK_TYPE, DOMAIN
from .coordinator import StatusCoordinator


class WattbridgeEntity(CoordinatorEntity[StatusCoordinator]):
    """An entity about the entry's sink."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: StatusCoordinator, key: str) -> None:
        super().__init__(coordinator)
        entry = coordinator.bridge.entry
        self._attr_unique_id = f"{entry.entry_id}_{key}"
        self._attr_translation_key = key
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=entry.title,
            manufacturer="wattbridge",
            model=f"{entry.data[CONF_SINK_TYPE]} sink",
            entry_type=DeviceEntryType.SERVICE,
        )
