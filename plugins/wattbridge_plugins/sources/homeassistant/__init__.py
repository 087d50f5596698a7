"""The ``homeassistant`` source: state changes of Home Assistant entities as readings."""

from __future__ import annotations

from typing import Any

from wattbridge import SourceRegister, hookimpl
from wattbridge_plugins.common.extras import needs_extra
from wattbridge_plugins.sources.homeassistant.config import HomeAssistantConfig
from wattbridge_plugins.sources.homeassistant.delivered import DeliveredTimes
from wattbridge_plugins.sources.homeassistant.states import (
    EntitySelection,
    StateConverter,
    parse_time,
)

# websockets is the `homeassistant` extra: imported when the source is built.
HomeAssistantSource = needs_extra(
    "wattbridge_plugins.sources.homeassistant.source:HomeAssistantSource", "homeassistant"
)

__all__ = [
    "DeliveredTimes",
    "EntitySelection",
    "HomeAssistantConfig",
    "HomeAssistantSource",
    "StateConverter",
    "parse_time",
    "wattbridge_register_sources",
]


@hookimpl
def wattbridge_register_sources(register: SourceRegister) -> None:
    """Register the ``homeassistant`` source."""
    register("homeassistant", HomeAssistantSource, HomeAssistantConfig)


@hookimpl
def wattbridge_register_commands(register: Any) -> None:
    """Register ``wattbridge homeassistant backfill``."""
    from wattbridge_plugins.sources.homeassistant import commands

    register("homeassistant", commands.add_arguments, commands.run, commands.HELP)
