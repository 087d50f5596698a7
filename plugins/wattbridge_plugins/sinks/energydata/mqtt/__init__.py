"""The ``energydata-mqtt`` sink (EnergyData.dk's MQTT API) and ``wattbridge subscribe``."""

from __future__ import annotations

from typing import Any

from wattbridge import hookimpl
from wattbridge_plugins.common.extras import needs_extra
from wattbridge_plugins.sinks.energydata.mqtt import commands
from wattbridge_plugins.sinks.energydata.mqtt.config import EnergyDataMqttConfig

# paho-mqtt is the `mqtt` extra: imported when the sink is built.
EnergyDataMqttSink = needs_extra(
    "wattbridge_plugins.sinks.energydata.mqtt.sink:EnergyDataMqttSink", "mqtt"
)


@hookimpl
def wattbridge_register_sinks(register: Any) -> None:
    """Register the ``energydata-mqtt`` sink."""
    register("energydata-mqtt", EnergyDataMqttSink, EnergyDataMqttConfig)


@hookimpl
def wattbridge_register_commands(register: Any) -> None:
    """Register ``wattbridge subscribe``."""
    register(
        "subscribe",
        commands.add_arguments,
        commands.run,
        "print what arrives on EnergyData.dk's MQTT topics, live, to check a setup",
    )


__all__ = [
    "EnergyDataMqttConfig",
    "EnergyDataMqttSink",
    "wattbridge_register_commands",
    "wattbridge_register_sinks",
]
