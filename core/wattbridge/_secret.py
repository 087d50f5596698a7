"""Secrets from the config, and the redaction that keeps them out of logs and errors.

Every :class:`Secret` registers its value, so :func:`redact` (used by the log
formatter and wherever an error text is stored or shown) can blank it out wherever
it appears, even inside a URL or a third-party library's exception text.
"""

from __future__ import annotations

import logging
import threading

REDACTED = "***"

_known: set[str] = set()
_lock = threading.Lock()


class Secret:
    """A token or password. ``str()`` and ``repr()`` never show it; :meth:`reveal` does."""

    __slots__ = ("_value", "origin")

    def __init__(self, value: str, origin: str = "inline") -> None:
        self._value = value
        self.origin = origin  # "inline", "env:NAME" or "file:PATH": safe to show.
        if len(value) >= 4:  # shorter strings would blank out ordinary words.
            with _lock:
                _known.add(value)

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it to its platform."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.origin})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def redact(text: str) -> str:
    """Return ``text`` with every known secret replaced by ``***``."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record's message and redacts secrets in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks are formatted later; pre-format and redact them here.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact(formatted)
        if cleaned != message or record.args:
            record.msg = cleaned
            record.args = None
        return True
