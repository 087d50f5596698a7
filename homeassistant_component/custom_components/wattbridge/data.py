"""What a loaded config entry keeps, as its ``runtime_data``, and the entry's type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry

from .bridge import Bridge
from .coordinator import StatusCoordinator


@dataclass
class EntryData:
    """A loaded entry's wattbridge, its status coordinator and the options it started with."""

    bridge: Bridge
    coordinator: StatusCoordinator
    options: dict[str, Any]
    """The options the entry was set up with (a reload is needed only when they change)."""


if TYPE_CHECKING:
    WattbridgeConfigEntry = ConfigEntry[EntryData]
else:
    # HA 2024.3, the oldest supported, has no generic ConfigEntry; from 2024.4 on the
    # subscript only informs type checkers, so the plain class serves both at run time.
    WattbridgeConfigEntry = ConfigEntry
