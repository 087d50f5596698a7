"""The ``homeassistant`` source: state changes of Home Assistant entities as readings."""

from __future__ import annotations

from wattbridge import SourceRegister, hookimpl
from wattbridge_plugins.common.extras import needs_extra
from wattbridge_plugins.sources.homeassistant.config import HomeAssistantConfig
from wattbridge_plugins.sources.homeassistant.states import EntitySelection, StateConverter

# websockets is the `homeassistant` extra: imported when the source is built.
HomeAssistantSource = needs_extra(
    "wattbridge_plugins.sources.homeassistant.source:HomeAssistantSource", "homeassistant"
)

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
