"""The ``energinet`` sink: readings to the import API of energinet.net (IWMAC's
Energinet platform; not Energinet.dk, the Danish transmission system operator),
and its sandbox, a local imitation of that API."""

from __future__ import annotations

from typing import Any

from wattbridge import hookimpl
from wattbridge_plugins.sinks.energinet.config import EnerginetConfig, SenderProfile
from wattbridge_plugins.sinks.energinet.sink import EnerginetSink


@hookimpl
def wattbridge_register_sinks(register: Any) -> None:
    """Register the ``energinet`` sink."""
    register("energinet", EnerginetSink, EnerginetConfig)


@hookimpl
def wattbridge_register_sandboxes(register: Any) -> None:
    """Register the ``energinet`` sandbox."""
    from wattbridge_plugins.sinks.energinet.sandbox import start

    register("energinet", start)


__all__ = [
    "EnerginetConfig",
    "EnerginetSink",
    "SenderProfile",
    "wattbridge_register_sandboxes",
    "wattbridge_register_sinks",
]
