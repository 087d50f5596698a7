"""The EnergyData.dk sandbox: a local imitation of the platform, with its two doors.

``wattbridge sandbox energydata`` serves the import and fetch APIs over HTTP (``server``);
``wattbridge sandbox energydata-mqtt`` the MQTT broker (``mqtt``). Both keep their data in
one store (``store``), so a value published over MQTT is fetched over HTTP, as on the
platform. Neither imports the sinks' code: the sandbox must catch that code's mistakes.
See README.md in this folder for every rule enforced and the sentence it comes from.
"""

from __future__ import annotations

from collections.abc import Callable

from wattbridge import hookimpl


@hookimpl
def wattbridge_register_sandboxes(register: Callable[..., None]) -> None:
    """Register the ``energydata`` sandbox (the import and fetch APIs) and the
    ``energydata-mqtt`` one (the MQTT broker)."""
    from wattbridge_plugins.sinks.energydata.sandbox import mqtt, server

    register("energydata", server.start)
    register("energydata-mqtt", mqtt.start)
