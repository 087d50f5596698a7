"""The one value that flows through wattbridge: a :class:`Reading`.

Readings are validated once, where they enter (a source), so everything downstream
can trust them. The outbox rebuilds readings it stored itself with
:func:`trusted_reading`, which skips validation on that hot path.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

Value = int | float | str

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_ONE_MICROSECOND = timedelta(microseconds=1)


class InvalidReading(ValueError):
    """A reading's field is not acceptable; the message names the field and the value."""


def _to_utc(value: object) -> datetime:
    if type(value) is datetime and value.tzinfo is UTC:  # the common case, first
        return value
    if not isinstance(value, datetime):
        raise InvalidReading(f"timestamp must be a datetime, not {type(value).__name__}")
    offset = value.utcoffset()
    if offset is None:
        raise InvalidReading(
            f"timestamp {value.isoformat()} has no time zone; give it one (UTC or local)"
        )
    if value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


def storable_text(field: str, text: str) -> None:
    """Refuse a string that cannot be stored: one holding a lone surrogate (JSON's
    ``"\\ud800"`` decodes to one) has no UTF-8 form, so SQLite and every platform refuse it.
    Raises :class:`InvalidReading` naming ``field`` and the position."""
    if text.isascii():  # the common case, and cheap
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidReading(
            f"{field} holds a lone surrogate {text[exc.start]!r} at position {exc.start}, "
            "which has no UTF-8 form and cannot be stored"
        ) from None


def _check_stream(_instance: object, _attribute: object, stream: str) -> None:
    if not isinstance(stream, str) or not stream.strip():
        raise InvalidReading(f"stream must be a non-empty string, not {stream!r}")
    storable_text("stream", stream)


def to_value(value: object) -> Value:
    """``value`` as a reading's value: bool becomes 0 or 1, an int must fit in 64 bits, a
    float must be finite, a str must have a UTF-8 form; raises :class:`InvalidReading`
    for anything else."""
    # bool is an int subclass; a coil or a switch state becomes 0 or 1 explicitly.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        storable_text("value", value)
        return value
    if isinstance(value, int):
        # The outbox (SQLite) and the platforms' integer types hold 64 bits.
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise InvalidReading(f"value {value} does not fit in a 64-bit integer")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidReading(f"value {value!r} is not a finite number")
        return value
    raise InvalidReading(f"value must be an int, a float or a str, not {type(value).__name__}")


def _check_text(_instance: object, attribute: attrs.Attribute[Any], text: str) -> None:
    if not isinstance(text, str):
        raise InvalidReading(f"{attribute.name} must be a string, not {text!r}")
    storable_text(attribute.name, text)


@attrs.frozen(slots=True)
class Reading:
    """One measured value of one stream at one instant.

    ``timestamp`` is always timezone-aware UTC (an aware datetime in another zone is
    converted; a naive one is refused). ``value`` is an int, a float or a str; NaN and
    the infinities are refused, and a bool becomes 0 or 1. Every string must have a
    UTF-8 form (no lone surrogates), so whatever is accepted can be stored.
    """

    stream: str = attrs.field(validator=_check_stream)
    timestamp: datetime = attrs.field(converter=_to_utc)
    value: Value = attrs.field(converter=to_value)
    unit: str = attrs.field(default="", validator=_check_text)
    source: str = attrs.field(default="", validator=_check_text)

    @property
    def epoch_us(self) -> int:
        """The timestamp as whole microseconds since the Unix epoch (exact)."""
        return to_epoch_us(self.timestamp)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_dict` reads it back to an equal reading."""
        return {
            "stream": self.stream,
            "timestamp": self.timestamp.isoformat(),
            "value": self.value,
            "unit": self.unit,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reading:
        """Build a reading from :meth:`to_dict`'s form, validating every field."""
        if not isinstance(data, dict):
            raise InvalidReading(f"a reading must be an object, not {type(data).__name__}")
        unknown = set(data) - {"stream", "timestamp", "value", "unit", "source"}
        if unknown:
            raise InvalidReading(f"unknown field(s): {', '.join(sorted(unknown))}")
        for required in ("stream", "timestamp", "value"):
            if required not in data:
                raise InvalidReading(f"missing field {required!r}")
        raw_ts = data["timestamp"]
        if not isinstance(raw_ts, str):
            raise InvalidReading(f"timestamp must be an ISO 8601 string, not {raw_ts!r}")
        try:
            timestamp = datetime.fromisoformat(raw_ts)
        except ValueError:
            raise InvalidReading(f"timestamp {raw_ts!r} is not ISO 8601") from None
        return cls(
            stream=data["stream"],
            timestamp=timestamp,
            value=data["value"],
            unit=data.get("unit", ""),
            source=data.get("source", ""),
        )


def to_epoch_us(timestamp: datetime) -> int:
    """Whole microseconds since the epoch for an aware datetime, without float rounding."""
    return (timestamp - EPOCH) // _ONE_MICROSECOND


def from_epoch_us(epoch_us: int) -> datetime:
    """The aware UTC datetime for :func:`to_epoch_us`'s number."""
    return EPOCH + timedelta(microseconds=epoch_us)


_new = object.__new__
# The slots' own setters: frozen attrs classes refuse setattr, these do not check.
_set_stream, _set_timestamp, _set_value, _set_unit, _set_source = (
    Reading.__dict__[name].__set__ for name in ("stream", "timestamp", "value", "unit", "source")
)


_last_instant: tuple[int, datetime] = (0, EPOCH)
"""The instant :func:`trusted_reading` made last: readings come in runs that share one
(the streams of one poll or one file row), and a datetime is immutable, so it is
shared rather than made again. One tuple, swapped whole: safe across threads."""


def trusted_reading(stream: str, epoch_us: int, value: Value, unit: str, source: str) -> Reading:
    """Rebuild a reading that was validated when it entered; no checks, for hot paths."""
    global _last_instant
    reading = _new(Reading)
    _set_stream(reading, stream)
    last = _last_instant
    if last[0] == epoch_us:
        timestamp = last[1]
    else:
        # Integer arithmetic: a float of seconds would be a microsecond off in some years.
        timestamp = EPOCH + timedelta(microseconds=epoch_us)
        _last_instant = (epoch_us, timestamp)
    _set_timestamp(reading, timestamp)
    _set_value(reading, value)
    _set_unit(reading, unit)
    _set_source(reading, source)
    return reading


def trusted_readings(
    streams: Iterable[str],
    stamps: Iterable[int],
    values: Iterable[Value],
    units: Iterable[str],
    sources: Iterable[str],
) -> list[Reading]:
    """:func:`trusted_reading` for columns (one reading per position, as many as the
    shortest column holds): the same readings in about a third less time, as no call is
    made a reading."""
    new = _new
    set_stream, set_timestamp, set_value = _set_stream, _set_timestamp, _set_value
    set_unit, set_source = _set_unit, _set_source
    readings: list[Reading] = []
    append = readings.append
    last_us, timestamp = _last_instant
    for stream, epoch_us, value, unit, source in zip(
        streams, stamps, values, units, sources, strict=False
    ):
        reading = new(Reading)
        set_stream(reading, stream)
        if epoch_us != last_us:
            timestamp = EPOCH + timedelta(microseconds=epoch_us)
            last_us = epoch_us
        set_timestamp(reading, timestamp)
        set_value(reading, value)
        set_unit(reading, unit)
        set_source(reading, source)
        append(reading)
    return readings


def with_names(reading: Reading, stream: str, source: str) -> Reading:
    """A copy of a validated reading with another stream or source name (no re-checks)."""
    copy = _new(Reading)
    _set_stream(copy, stream)
    _set_timestamp(copy, reading.timestamp)
    _set_value(copy, reading.value)
    _set_unit(copy, reading.unit)
    _set_source(copy, source)
    return copy
