"""Checking a sink's credentials against its platform before the entry is saved.

A sink type may offer ``check()`` on its instance (raise :class:`PermissionError` for a
refused token, :class:`OSError` or :class:`TimeoutError` when the platform cannot be
reached); wattbridge's core has no such hook yet, so for ``energydata-mqtt`` this
module connects the way the sink does (MQTT CONNECT with the token) and reads the
broker's answer. Sink types with neither are checked for their config only: for
``energinet`` any request would use the sender's one-request-per-10-minutes window.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from pathlib import Path
from typing import Any

from wattbridge.outbox import Outbox, OutboxState
from wattbridge.plugins import Registry
from wattbridge.sinks import SinkContext

_LOGGER = logging.getLogger(__package__)


class InvalidAuth(Exception):
    """The platform refused the credentials."""


class CannotConnect(Exception):
    """The platform could not be reached."""


def _check_energydata_mqtt(config: Any) -> None:
    from wattbridge_plugins.sinks.energydata_mqtt.sink import _Connection

    connection = _Connection(config, f"wattbridge-check-{secrets.token_hex(4)}")
    try:
        connection.connect()
        if connection.refusal is not None:
            if connection.refusal.auth_refused:
                raise InvalidAuth(connection.refusal.text)
            raise CannotConnect(connection.refusal.text)
        if not connection.alive:
            raise CannotConnect(connection.lost or "the broker closed the connection")
    except (OSError, TimeoutError) as exc:
        raise CannotConnect(f"{type(exc).__name__}: {exc}") from None
    finally:
        try:
            connection.close()
        except Exception:  # a socket that never opened has nothing to close
            _LOGGER.debug("closing the check connection failed", exc_info=True)


BUILT_IN_CHECKS = {"energydata-mqtt": _check_energydata_mqtt}


def check_sink(registry: Registry, sink_type: str, config: Any) -> bool:
    """Check ``config`` against the platform (blocking); True if a check was made.

    Raises :class:`InvalidAuth` or :class:`CannotConnect`.
    """
    built_in = BUILT_IN_CHECKS.get(sink_type)
    if built_in is not None:
        built_in(config)
        return True
    plugin_type = registry.sinks[sink_type]
    if not callable(getattr(plugin_type.factory, "check", None)):
        return False
    with tempfile.TemporaryDirectory(prefix="wattbridge-check-") as folder:
        outbox = Outbox(Path(folder) / "check.sqlite")
        try:
            context = SinkContext("check", Path(folder), _LOGGER, OutboxState(outbox))
            sink = plugin_type.factory(config, context)
            try:
                sink.check()
            except PermissionError as exc:
                raise InvalidAuth(str(exc)) from None
            except (OSError, TimeoutError) as exc:
                raise CannotConnect(str(exc)) from None
            finally:
                close = getattr(sink, "close", None)
                if close is not None:
                    close()
        finally:
            outbox.close()
    return True
