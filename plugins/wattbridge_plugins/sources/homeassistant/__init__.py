"""The ``homeassistant`` source: state changes of Home Assistant entities as readings."""

from wattbridge_plugins.sources.homeassistant.config import HomeAssistantConfig
from wattbridge_plugins.sources.homeassistant.source import (
    HomeAssistantSource,
    wattbridge_register_sources,
)

__all__ = ["HomeAssistantConfig", "HomeAssistantSource", "wattbridge_register_sources"]
