"""The ``mqtt`` source: readings from any MQTT broker (Tasmota, Shelly, Zigbee2MQTT, Node-RED)."""

from __future__ import annotations

from typing import Any

from wattbridge import hookimpl
from wattbridge_plugins.common.extras import needs_extra
from wattbridge_plugins.sources.mqtt.config import MqttSourceConfig, Subscription

# paho-mqtt is the `mqtt` extra: imported when the source is built.
MqttSource = needs_extra("wattbridge_plugins.sources.mqtt.source:MqttSource", "mqtt")


@hookimpl
def wattbridge_register_sources(register: Any) -> None:
    """Register the ``mqtt`` source."""
    register("mqtt", MqttSource, MqttSourceConfig)


__all__ = ["MqttSource", "MqttSourceConfig", "Subscription", "wattbridge_register_sources"]
