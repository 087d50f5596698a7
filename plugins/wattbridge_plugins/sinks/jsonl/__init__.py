"""The ``jsonl`` sink: readings as JSON lines, to a file or to standard output."""

from wattbridge_plugins.sinks.jsonl.sink import JsonlConfig, JsonlSink, wattbridge_register_sinks

__all__ = ["JsonlConfig", "JsonlSink", "wattbridge_register_sinks"]
