"""The ``energydata-batch`` sink: readings to EnergyData.dk through its batch-import API,
with the ``wattbridge import`` and ``wattbridge fetch`` commands (the platform's
sandbox is ``wattbridge_plugins.sinks.energydata.sandbox``). See README.md in this folder."""

from __future__ import annotations

from collections.abc import Callable

from wattbridge import hookimpl
from wattbridge_plugins.sinks.energydata.batch.config import EnergyDataBatchConfig
from wattbridge_plugins.sinks.energydata.batch.sink import EnergyDataBatchSink


@hookimpl
def wattbridge_register_sinks(register: Callable[..., None]) -> None:
    """Register the ``energydata-batch`` sink."""
    register("energydata-batch", EnergyDataBatchSink, EnergyDataBatchConfig)


@hookimpl
def wattbridge_register_commands(register: Callable[..., None]) -> None:
    """Register ``wattbridge import`` and ``wattbridge fetch``."""
    from wattbridge_plugins.sinks.energydata.batch import commands as commands

    register("import", commands.add_import_arguments, commands.run_import, commands.IMPORT_HELP)
    register("fetch", commands.add_fetch_arguments, commands.run_fetch, commands.FETCH_HELP)


__all__ = ["EnergyDataBatchConfig", "EnergyDataBatchSink"]
