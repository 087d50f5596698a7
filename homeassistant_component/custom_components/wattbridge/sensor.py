"""Sensors of each sink: queue depth, last success and dead letters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant

from wattbridge.commands import OutboxStatus

from .coordinator import StatusCoordinator
from .data import WattbridgeConfigEntry
from .entity import WattbridgeEntity

if TYPE_CHECKING:
    # HA 2025.2 and later; the oldest supported HA passes the same callable.
    from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

# Every figure comes from one coordinator poll: no per-entity updates to limit.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class StatusSensorDescription(SensorEntityDescription):
    """A sensor whose value comes from the outbox status."""

    value: Callable[[OutboxStatus], int | datetime | None]


def _time(epoch: float | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch is not None else None


SENSORS = (
    StatusSensorDescription(
        key="queue_depth",
        native_unit_of_measurement="readings",
        state_class=SensorStateClass.MEASUREMENT,
        value=lambda status: status.depth,
    ),
    StatusSensorDescription(
        key="last_success",
        device_class=SensorDeviceClass.TIMESTAMP,
        value=lambda status: _time(status.last_success),
    ),
    StatusSensorDescription(
        key="dead_letters",
        native_unit_of_measurement="readings",
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value=lambda status: status.dead_letters,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: WattbridgeConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sink's sensors."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(StatusSensor(coordinator, description) for description in SENSORS)


class StatusSensor(WattbridgeEntity, SensorEntity):
    """One figure of the sink's outbox."""

    entity_description: StatusSensorDescription

    def __init__(self, coordinator: StatusCoordinator, description: StatusSensorDescription):
        super().__init__(coordinator, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> int | datetime | None:
        """The figure, from the last status poll."""
        return self.entity_description.value(self.coordinator.data)
