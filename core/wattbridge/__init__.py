"""wattbridge: energy readings from where they are measured to the platforms that store them.

The public API for plugin authors is what this module exports, with
:mod:`wattbridge.commands` (building blocks for sub-commands) and
:mod:`wattbridge.testing` (a harness for plugin tests). Every other module is private
and may change without notice.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

from wattbridge import _exitcodes as exitcodes
from wattbridge._backoff import Backoff
from wattbridge._columns import ReadingColumns
from wattbridge._config import ConfigError, ConfigValueError
from wattbridge._durations import format_duration, parse_duration
from wattbridge._errors import DataError, Stopping
from wattbridge._grid import next_tick
from wattbridge._hookspecs import (
    CommandRegister,
    SandboxRegister,
    SinkRegister,
    SourceRegister,
    StartupView,
)
from wattbridge._private import private_dir, private_file, write_private
from wattbridge._readings import (
    InvalidReading,
    Reading,
    Value,
    to_value,
    trusted_reading,
    trusted_readings,
)
from wattbridge._secret import Secret, redact
from wattbridge._sinks import (
    Batch,
    Halted,
    InProgress,
    SendResult,
    Settled,
    SharedRateLimits,
    Sink,
    SinkContext,
    SinkLimits,
    SinkState,
)
from wattbridge._sources import Emit, PolledSource, PushedSource, SourceContext
from wattbridge._stamptext import StampText
from wattbridge._validators import (
    http_url,
    is_loopback_host,
    is_loopback_url,
    positive_duration,
    refuse_plain_text,
    warn_plain_text,
)

hookimpl = pluggy.HookimplMarker("wattbridge")
"""Marks a function in a plugin module as a hook implementation."""

try:
    __version__ = version("wattbridge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Backoff",
    "Batch",
    "CommandRegister",
    "ConfigError",
    "ConfigValueError",
    "DataError",
    "Emit",
    "Halted",
    "InProgress",
    "InvalidReading",
    "PolledSource",
    "PushedSource",
    "Reading",
    "ReadingColumns",
    "SandboxRegister",
    "Secret",
    "SendResult",
    "Settled",
    "SharedRateLimits",
    "Sink",
    "SinkContext",
    "SinkLimits",
    "SinkRegister",
    "SinkState",
    "SourceContext",
    "SourceRegister",
    "StampText",
    "StartupView",
    "Stopping",
    "Value",
    "__version__",
    "exitcodes",
    "format_duration",
    "hookimpl",
    "http_url",
    "is_loopback_host",
    "is_loopback_url",
    "next_tick",
    "parse_duration",
    "positive_duration",
    "private_dir",
    "private_file",
    "redact",
    "refuse_plain_text",
    "to_value",
    "trusted_reading",
    "trusted_readings",
    "warn_plain_text",
    "write_private",
]
