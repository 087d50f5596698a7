"""The ``homeassistant`` source: state changes of Home Assistant entities as readings."""

from wattbridge_plugins.sources.homeassistant.config import HomeAssistantConfig
from wattbridge_plugins.sources.homeassistant.source import (
    HomeAssistantSource,
    wattbridge_register_sources,
)
from wattbridge_plugins.sources.homeassistant.states import EntitySelection, StateConverter

__all__ = [
    "EntitySelection",
    "HomeAssistantConfig",
    "HomeAssistantSource",
    "StateConverter",
    "wattbridge_register_sources",
]
