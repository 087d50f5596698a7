"""Helpers shared by the component's tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

DOMAIN = "wattbridge"
REPO = Path(__file__).resolve().parents[2]
COMPONENT_ROOT = Path(os.environ.get("WATTBRIDGE_COMPONENT_ROOT", REPO / "homeassistant_component"))
"""The folder whose custom_components/ the tests load (conftest.py puts it on the path)."""


async def add_entry(
    hass: HomeAssistant,
    sink_type: str,
    sink: dict[str, Any],
    options: dict[str, Any] | None = None,
    *,
    setup: bool = True,
) -> ConfigEntry:
    """A config entry as the config flow makes it, set up if asked."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=sink_type,
        data={"sink_type": sink_type, "sink": sink},
        options=options if options is not None else {"include_device_classes": ["energy"]},
    )
    entry.add_to_hass(hass)
    if setup:
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    return entry
