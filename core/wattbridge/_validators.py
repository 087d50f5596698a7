"""Validators for config classes that several plugins need, so each refuses the same
values with the same words: durations that must be positive, platform URLs, and
credentials in clear text towards another machine.

Each raises :class:`~wattbridge.ConfigValueError` naming the key, so ``wattbridge
check`` points at its line.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from wattbridge._errors import ConfigValueError

Validator = Callable[[Any, Any, Any], None]
"""An attrs field validator: ``(instance, attribute, value)``."""


def positive_duration(_instance: Any, attribute: Any, value: timedelta | None) -> None:
    """Refuse a zero or negative duration (None, for an optional one, passes)."""
    if value is not None and value <= timedelta(0):
        raise ConfigValueError(attribute.name, "must be longer than 0s")


def is_loopback_host(host: str) -> bool:
    """True when ``host`` is this machine (127.0.0.0/8, ::1 or localhost)."""
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is this machine (127.0.0.0/8, ::1 or localhost)."""
    return is_loopback_host(urlsplit(url).hostname or "")


def refuse_plain_text(instance: Any, key: str, host: str, what: str) -> None:
    """Refuse sending ``what`` (a token, a password) in clear text to ``host``.

    The same rule as :func:`http_url`'s: plain text is always allowed towards this
    machine (a sandbox, a local broker); towards any other host only when the config
    class has a bool field ``insecure`` that the user set to true (and then the plugin
    calls :func:`warn_plain_text` when it connects). Raises
    :class:`~wattbridge.ConfigValueError` naming ``key``, the key that turns encryption
    on. Call it from a validator of the ``insecure`` field: attrs runs validators once
    every field is set.
    """
    if is_loopback_host(host) or getattr(instance, "insecure", False) is True:
        return
    raise ConfigValueError(
        key,
        f"{what} would go in clear text to {host}: turn encryption on, or set "
        "insecure = true to accept that (plain text is always allowed towards this machine)",
    )


def warn_plain_text(logger: logging.Logger, host: str, what: str) -> None:
    """Log, as a warning, that ``what`` goes in clear text to ``host`` (not this machine);
    for a connection that :func:`refuse_plain_text` let through with ``insecure``."""
    if not is_loopback_host(host):
        logger.warning(
            "%s goes in clear text to %s (insecure = true): anyone on the way can read it",
            what,
            host,
        )


def http_url(plain_http_key: str | None = None) -> Validator:
    """A validator for a platform's URL: ``http`` or ``https`` with a host.

    Plain ``http`` carries tokens in clear text, so it is refused towards any host but
    this machine (a sandbox) unless the config class has a bool field named
    ``plain_http_key`` that the user set to true.
    """

    def check(instance: Any, attribute: Any, url: str) -> None:
        try:
            parts = urlsplit(url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise ConfigValueError(attribute.name, f"{url!r} is not a URL: {exc}") from None
        if parts.scheme not in ("https", "http") or not host:
            raise ConfigValueError(
                attribute.name, f"{url!r} is not an http(s) URL such as https://host/path"
            )
        allowed = plain_http_key is not None and getattr(instance, plain_http_key, False)
        if parts.scheme == "http" and not is_loopback_url(url) and not allowed:
            hint = f", or set {plain_http_key} = true" if plain_http_key else ""
            raise ConfigValueError(
                attribute.name,
                f"plain http to {host} would send the token in clear text: use https"
                f"{hint} (plain http is always allowed towards this machine)",
            )

    return check
