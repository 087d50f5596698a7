"""Checking a sink's credentials against its platform before the entry is saved.

A sink type may offer ``check()`` (see ``wattbridge.Sink``: it raises
:class:`PermissionError` for a refused token, :class:`OSError` or :class:`TimeoutError`
when the platform cannot be reached); ``energydata-mqtt`` does. Sink types without it
are checked for their config only: for ``energinet`` any request would use the
sender's one-request-per-10-minutes window.
"""

from __future__ import annotations

from wattbridge.commands import Config, open_sink

from .const import SINK_NAME


class InvalidAuth(Exception):
    """The platform refused the credentials."""


class CannotConnect(Exception):
    """The platform could not be reached."""


def check_sink(config: Config) -> bool:
    """Check the entry's sink in ``config`` against the platform (blocking); True if a
    check was made. Raises :class:`InvalidAuth` or :class:`CannotConnect`."""
    with open_sink(config, SINK_NAME, open=False) as opened:  # check() does its own I/O
        try:
            return opened.sink.check()
        except PermissionError as exc:
            raise InvalidAuth(str(exc)) from None
        except (OSError, TimeoutError) as exc:
            raise CannotConnect(str(exc)) from None
