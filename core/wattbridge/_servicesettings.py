"""The ``[wattbridge.http]`` and ``[wattbridge.log]`` tables: how a daemon is watched
(a metrics and health endpoint) and where its log goes (journald or a rotating file)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

DEFAULT_LISTEN = "127.0.0.1:9464"


def split_listen(listen: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) as (host, port); ValueError naming the mistake."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{listen!r} is not host:port (e.g. {DEFAULT_LISTEN!r})")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{listen!r}: {port!r} is not a port number")
    return host.strip("[]"), int(port)


def _check_listen(_instance: Any, _attribute: Any, value: str) -> None:
    split_listen(value)


@attrs.frozen
class HttpSettings:
    """``[wattbridge.http]``: serve ``/metrics`` and ``/healthz`` (off unless present)."""

    listen: str = attrs.field(default=DEFAULT_LISTEN, validator=_check_listen)
    """Where to listen; loopback by default. Another address is exposed to that network
    (the endpoint has no authentication; put a reverse proxy in front if needed)."""


@attrs.frozen
class LogSettings:
    """``[wattbridge.log]``: a log file with rotation instead of standard error."""

    file: Path | None = None
    """Log to this file (rotated) instead of standard error; relative to the config."""
    max_size: int = attrs.field(default=10_000_000, validator=attrs.validators.ge(1024))
    """Bytes a log file reaches before it is rotated."""
    keep: int = attrs.field(default=5, validator=attrs.validators.ge(0))
    """Rotated files kept (wattbridge.log.1 ... .N)."""
