"""wattbridge: energy readings from where they are measured to the platforms that store them.

The public API for plugin authors is what this module exports, and nothing else.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

from wattbridge.errors import DataError, Stopping
from wattbridge.readings import InvalidReading, Reading
from wattbridge.secret import Secret
from wattbridge.sinks import Batch, SendResult, SinkContext, SinkLimits
from wattbridge.sources import Emit, SourceContext

hookimpl = pluggy.HookimplMarker("wattbridge")
"""Marks a function in a plugin module as a hook implementation."""

try:
    __version__ = version("wattbridge")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "Batch",
    "DataError",
    "Emit",
    "InvalidReading",
    "Reading",
    "Secret",
    "SendResult",
    "SinkContext",
    "SinkLimits",
    "SourceContext",
    "Stopping",
    "__version__",
    "hookimpl",
]
