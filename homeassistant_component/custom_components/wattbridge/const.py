"""Constants of the wattbridge integration."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

DOMAIN: Final = "wattbridge"

CONF_SINK_TYPE: Final = "sink_type"
CONF_SINK: Final = "sink"
"""Entry data: the sink's table, as it would be written in TOML (the token included,
stored as Home Assistant stores every config entry's data)."""
CONF_EXTRA_TOML: Final = "extra_toml"
"""A form field: more keys of the sink table as TOML, for keys a form cannot show."""

CONF_INCLUDE_ENTITIES: Final = "include_entities"
CONF_INCLUDE_DOMAINS: Final = "include_domains"
CONF_INCLUDE_DEVICE_CLASSES: Final = "include_device_classes"
CONF_EXCLUDE_ENTITIES: Final = "exclude_entities"
CONF_EXCLUDE_DOMAINS: Final = "exclude_domains"
CONF_EXCLUDE_DEVICE_CLASSES: Final = "exclude_device_classes"
SELECTION_KEYS: Final = (
    CONF_INCLUDE_ENTITIES,
    CONF_INCLUDE_DOMAINS,
    CONF_INCLUDE_DEVICE_CLASSES,
    CONF_EXCLUDE_ENTITIES,
    CONF_EXCLUDE_DOMAINS,
    CONF_EXCLUDE_DEVICE_CLASSES,
)

CONF_RESOLUTION: Final = "timestamp_resolution"
"""Truncate HA's timestamps (microseconds) to whole seconds or minutes, for platforms
that cannot store fractions (energinet.net refuses them). Default: exact."""
RESOLUTIONS: Final = ("exact", "second", "minute")

CONF_STREAM_NAMES: Final = "stream_names"
"""Platform stream names for entities (entity id -> name); others keep their entity id."""

SOURCE_NAME: Final = "homeassistant"
"""The name of the source that feeds HA's states in the runtime's config."""
SOURCE_PLUGIN: Final = "ha-state-machine"
SINK_NAME: Final = "sink"
"""Each config entry runs one sink, under this name in the runtime's config."""

STATUS_INTERVAL: Final = timedelta(seconds=10)

SERVICE_FLUSH: Final = "flush"
SERVICE_REPLAY: Final = "replay_dead_letters"
SERVICE_BACKFILL: Final = "backfill"
ATTR_ENTRY_ID: Final = "config_entry_id"
ATTR_SINCE: Final = "since"
ATTR_UNTIL: Final = "until"
ATTR_STATISTICS: Final = "statistics"

DEVICE_CLASS_CHOICES: Final = ("energy", "power", "gas", "water", "current", "voltage")
DOMAIN_CHOICES: Final = ("sensor", "input_number", "counter", "number")
