"""The ``modbus`` source: Modbus TCP, RTU and RTU over TCP meters, with shipped meter
profiles, and the ``wattbridge modbus`` command. See README.md in this folder."""

from __future__ import annotations

from typing import Any

from wattbridge import hookimpl
from wattbridge_plugins.common.extras import needs_extra
from wattbridge_plugins.sources.modbus.config import DeviceConfig, ModbusConfig, RegisterConfig

# pymodbus and pyserial are the `modbus` extra: imported when a modbus source is built.
ModbusSource = needs_extra("wattbridge_plugins.sources.modbus.source:ModbusSource", "modbus")


@hookimpl
def wattbridge_register_sources(register: Any) -> None:
    """Register the ``modbus`` source."""
    register("modbus", ModbusSource, ModbusConfig)


@hookimpl
def wattbridge_register_commands(register: Any) -> None:
    """Register ``wattbridge modbus`` (read a device once; list profiles)."""
    from wattbridge_plugins.sources.modbus import commands

    register("modbus", commands.add_arguments, commands.run, commands.HELP)


__all__ = [
    "DeviceConfig",
    "ModbusConfig",
    "ModbusSource",
    "RegisterConfig",
    "wattbridge_register_commands",
    "wattbridge_register_sources",
]
