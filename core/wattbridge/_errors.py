"""Exceptions that wattbridge raises on purpose, each naming where the problem is."""

from __future__ import annotations


class WattbridgeError(Exception):
    """Base of wattbridge's own errors."""


class DataError(WattbridgeError, ValueError):
    """Outside data that cannot be read: the message starts with where (file:line, register)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.reason = message


class Stopping(WattbridgeError):
    """Raised by ``emit`` when wattbridge is stopping; the source must not ack its input."""


class PluginError(WattbridgeError):
    """A plugin is broken: an unknown hook, a duplicate type name, a bad registration."""


class CommandFailed(WattbridgeError):
    """Ends a command with a message on stderr and an exit code (see ``exitcodes``)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class ConfigValueError(ValueError):
    """A value a plugin's config class refuses; raise it from a validator or converter.

    ``key`` names the key whose value is wrong (as the user wrote it in the TOML file),
    and ``message`` says what is wrong, so ``wattbridge check`` can point at the line.
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message
