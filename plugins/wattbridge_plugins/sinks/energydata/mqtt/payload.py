"""EnergyData.dk's MQTT payloads: building them from readings, and reading them back.

Single-value: ``{"timestamp": <epoch ms>, "value": v}`` on the datastream's own topic.
Multi-value: ``{"timestamp": <epoch ms>, "value": {"<suffix>": v, ...}}``, every
datastream of one timestamp in one message, on the multi-value topic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

import attrs

from wattbridge import Reading, Value
from wattbridge_plugins.common.energydata_csv import EPOCH, StreamType, ValueMismatch, check_value

DatastreamType = StreamType | Literal["any"]
"""What a datastream stores: the platform checks values against it; "any": sent as is."""

UnfitValue = ValueMismatch
"""A reading's value does not fit its datastream's type (the batch sink's check too)."""

_ONE_MS = timedelta(milliseconds=1)


def epoch_ms(timestamp: datetime) -> int:
    """Whole milliseconds since the epoch (sub-millisecond parts are cut, not rounded)."""
    return (timestamp - EPOCH) // _ONE_MS


def value_json(value: Value, kind: DatastreamType = "any") -> str:
    """The JSON text of ``value`` for a datastream of type ``kind``.

    Raises :class:`UnfitValue` when the value cannot be stored there without changing
    its meaning (a fraction in an integer datastream, a number in a string one), by the
    same check as the batch sink's.
    """
    if kind != "any":
        value = check_value(value, kind)
        if kind == "double":
            return repr(float(value))
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    # repr() of an int or a finite float is valid JSON (and keeps 1.0 a double).
    return repr(value)


def single_value(ms: int, value_text: str) -> bytes:
    """A single-value message from a timestamp and :func:`value_json`'s text."""
    return f'{{"timestamp": {ms}, "value": {value_text}}}'.encode()


def multi_value(ms: int, values: Sequence[tuple[str, str]]) -> bytes:
    """A multi-value message from a timestamp and (JSON key text, value JSON text) pairs;
    make a key's text with :func:`json_key` (once per datastream: it repeats)."""
    inner = ", ".join(f"{key}: {v}" for key, v in values)
    return f'{{"timestamp": {ms}, "value": {{{inner}}}}}'.encode()


def json_key(suffix: str) -> str:
    """A datastream suffix as a JSON object key."""
    return json.dumps(suffix, ensure_ascii=False)


@attrs.frozen
class Decoded:
    """One datastream value found in a message."""

    suffix: str
    epoch_ms: int
    value: Value


def decode(
    topic: str, payload: bytes, topics: Mapping[str, str], multi_topic: str | None
) -> list[Decoded]:
    """The values in a message as the platform reads it (for tests and ``subscribe``).

    ``topics`` maps each full single-value topic to its suffix; ``multi_topic`` is where
    multi-value messages go. Raises ValueError for a message the platform would refuse.
    """
    data = json.loads(payload)
    if not isinstance(data, dict) or set(data) != {"timestamp", "value"}:
        raise ValueError("a message is an object with exactly timestamp and value")
    ms = data["timestamp"]
    if not isinstance(ms, int) or isinstance(ms, bool):
        raise ValueError(f"timestamp {ms!r} is not whole epoch milliseconds")
    value = data["value"]
    if isinstance(value, dict):
        if topic != multi_topic:
            raise ValueError(f"a multi-value message on {topic!r}, not {multi_topic!r}")
        return [Decoded(suffix, ms, _scalar(v)) for suffix, v in value.items()]
    if topic not in topics:
        raise ValueError(f"topic {topic!r} is not a configured datastream")
    return [Decoded(topics[topic], ms, _scalar(value))]


def _scalar(value: object) -> Value:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"value {value!r} is not a number or a string")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"value {value!r} is not finite")
    return value


def reading_key(reading: Reading) -> tuple[str, int, Value]:
    """What of a reading the platform keeps: (datastream, epoch ms, value)."""
    return (reading.stream, epoch_ms(reading.timestamp), reading.value)
