"""Checking a sink's credentials against its platform before the entry is saved.

A sink type may offer ``check()`` on its instance (see wattbridge._sinks.Sink: it raises
:class:`PermissionError` for a refused token, :class:`OSError` or :class:`TimeoutError`
when the platform cannot be reached); ``energydata-mqtt`` does. Sink types without it
are checked for their config only: for ``energinet`` any request would use the
sender's one-request-per-10-minutes window.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from wattbridge._outbox import Outbox, OutboxState
from wattbridge._plugins import Registry
from wattbridge._sinks import SinkContext

_LOGGER = logging.getLogger(__package__)


class InvalidAuth(Exception):
    """The platform refused the credentials."""


class CannotConnect(Exception):
    """The platform could not be reached."""


def check_sink(registry: Registry, sink_type: str, config: Any) -> bool:
    """Check ``config`` against the platform (blocking); True if a check was made.

    Raises :class:`InvalidAuth` or :class:`CannotConnect`.
    """
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
