"""The ``homeassistant`` source: state changes of Home Assistant entities as readings."""

from __future__ import annotations

from wattbridge import SourceRegister, hookimpl
from wattbridge_plugins.sources.homeassistant.config import HomeAssistantConfig
from wattbridge_plugins.sources.homeassistant.source import HomeAssistantSource
from wattbridge_plugins.sources.homeassistant.states import EntitySelection, StateConverter

__all__ = [
    "EntitySelection",
    "HomeAssistantConfig",
    "HomeAssistantSource",
    "StateConverter",
    "wattbridge_register_sources",
]


@hookimpl
def wattbridge_register_sources(register: SourceRegister) -> None:
    """Register the ``homeassistant`` source."""
    register("homeassistant", HomeAssistantSource, HomeAssistantConfig)
