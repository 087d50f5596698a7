"""The ``jsonl`` sink: readings as JSON lines, to a file or to standard output."""

from __future__ import annotations

from wattbridge import SinkRegister, hookimpl
from wattbridge_plugins.sinks.jsonl.config import JsonlConfig
from wattbridge_plugins.sinks.jsonl.sink import JsonlSink

__all__ = ["JsonlConfig", "JsonlSink", "wattbridge_register_sinks"]


@hookimpl
def wattbridge_register_sinks(register: SinkRegister) -> None:
    """Register the ``jsonl`` sink."""
    register("jsonl", JsonlSink, JsonlConfig)
