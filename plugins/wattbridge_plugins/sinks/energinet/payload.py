"""energinet.net payloads: timestamps in the configured zone and style, and greedy
packing of readings into one JSON body of at most ``limit`` encoded bytes.

The body is the documented shape, written compactly::

    [{"meterID":"7777777777","values":[["2023-02-02T01:00",45.0],...]},...]

Sizes are counted as the pieces are made (every piece is ASCII: ``json.dumps``
escapes anything else), so a payload is encoded once, not once per reading.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import attrs

from wattbridge import Reading
from wattbridge_plugins.sinks.energinet.config import TimeStyle

_GROUP_HEAD = '{"meterID":'
_GROUP_VALUES = ',"values":['
_GROUP_TAIL = "]}"
_GROUP_OVERHEAD = len(_GROUP_HEAD) + len(_GROUP_VALUES) + len(_GROUP_TAIL)
_SMALLEST_VALUE = len("0.0")
_STYLE_FORMATS = {"minutes": "%Y-%m-%dT%H:%M", "seconds": "%Y-%m-%dT%H:%M:%S"}


class Unsendable(ValueError):
    """A reading the platform cannot take as it is; the message is the dead-letter reason."""


@attrs.frozen
class TimeFormat:
    """Writes a reading's (UTC) timestamp in ``zone`` in one of three ISO 8601 styles."""

    zone: str = "UTC"
    style: TimeStyle = "minutes"
    _tz: tzinfo = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_tz", UTC if self.zone == "UTC" else ZoneInfo(self.zone))

    @property
    def shortest(self) -> int:
        """Characters of the shortest timestamp this format writes."""
        return {"minutes": 16, "seconds": 19}.get(self.style, 20)

    def format(self, timestamp: datetime) -> str:
        """The text for ``timestamp``; raises :class:`Unsendable` if it would be ambiguous."""
        local = timestamp.astimezone(self._tz)
        if self.style != "minutes" and local.microsecond:
            raise Unsendable(
                f"timestamp {timestamp.isoformat()} has fractions of a second, which "
                "the platform's format cannot write; stamp polls with their scheduled "
                'instant or resample the route ([routes.resample] every = "1m")'
            )
        if self.style == "offset":
            text = local.isoformat(timespec="seconds")
            return text[:-6] + "Z" if text.endswith("+00:00") else text
        if self.style == "minutes" and (local.second or local.microsecond):
            # Cutting the seconds off would give two readings one timestamp: refuse.
            raise Unsendable(
                f"timestamp {timestamp.isoformat()} has seconds, which time_format "
                "'minutes' (the documented format) cannot write; resample the route to "
                'whole minutes ([routes.resample] every = "1m" or longer)'
            )
        if local.fold:
            # The repeated hour when clocks go back: without an offset its times are the
            # same text as the hour before, and one value would overwrite the other.
            raise Unsendable(
                f"timestamp {timestamp.isoformat()} falls in the repeated hour of a "
                f"daylight-saving change in {self.zone}, which has no offset-free text; "
                "use timezone = 'UTC' or time_format = 'offset'"
            )
        return local.strftime(_STYLE_FORMATS[self.style])


def float_text(value: object) -> str:
    """A reading's value as a JSON float; raises :class:`Unsendable` for a string."""
    if isinstance(value, str):
        raise Unsendable(f"value {value!r} is text; energinet.net takes only numbers")
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:
        raise Unsendable(f"value {value!r} is too large for a floating-point number") from None
    if not math.isfinite(number):
        # The core refuses such readings; never write NaN, which is not JSON, all the same.
        raise Unsendable(f"value {value!r} is not a finite number")
    return repr(number)  # repr of a finite float is valid JSON, e.g. 45.0 or 1e+20


@attrs.frozen
class Packed:
    """One request's body and what became of each reading of the batch.

    ``meters``: meter ID -> the batch indices whose values are in ``body``.
    ``rejected``: batch index -> why it can never be sent (dead-letter it).
    Indices in neither were left for a later request (no room, or a second value for a
    meter and timestamp already in this body).
    """

    body: bytes
    meters: Mapping[str, Sequence[int]]
    rejected: Mapping[int, str]

    @property
    def sent(self) -> list[int]:
        """Every batch index whose value is in the body."""
        return [i for indices in self.meters.values() for i in indices]


def pack(
    readings: Sequence[Reading],
    meter_of: Callable[[str], str | None],
    *,
    limit: int,
    time_format: TimeFormat,
    oldest: datetime,
) -> Packed:
    """Pack ``readings`` (oldest first) greedily into a body of at most ``limit`` bytes.

    ``meter_of`` maps a stream to its meter ID (None: not configured). Readings older
    than ``oldest``, with text values or unwritable timestamps are rejected, whatever
    the room. The rest go in, in order, while they fit; one that does not fit is left,
    and smaller later ones may still fill the room.
    """
    groups: dict[str, list[str]] = {}
    indices: dict[str, list[int]] = {}
    rejected: dict[int, str] = {}
    seen: set[tuple[str, str]] = set()
    meter_json: dict[str, str] = {}
    size = 2  # the enclosing [ ]
    smallest = 1 + len('["",]') + time_format.shortest + _SMALLEST_VALUE
    full = False
    for index, reading in enumerate(readings):
        meter = meter_of(reading.stream)
        if meter is None:
            rejected[index] = (
                f"stream {reading.stream!r} is mapped to no meter in the sink's sender profiles"
            )
            continue
        if reading.timestamp < oldest:
            rejected[index] = (
                f"timestamp {reading.timestamp.isoformat()} is older than five years "
                f"(limit {oldest.isoformat(timespec='seconds')}); energinet.net refuses it"
            )
            continue
        try:
            value = float_text(reading.value)
            stamp = time_format.format(reading.timestamp)
        except Unsendable as exc:
            rejected[index] = str(exc)
            continue
        if full:
            continue  # keep scanning only to reject what can never be sent
        key = (meter, stamp)
        if key in seen:
            # A second value for one meter and time: the platform keeps one, so the
            # later (newer) one goes in a later request, after this one is stored.
            continue
        seen.add(key)
        entry = f'["{stamp}",{value}]'
        group = groups.get(meter)
        if group is None:
            quoted = meter_json.get(meter) or json.dumps(meter)
            meter_json[meter] = quoted
            cost = _GROUP_OVERHEAD + len(quoted) + len(entry) + (1 if groups else 0)
        else:
            cost = len(entry) + (1 if group else 0)
        if size + cost > limit:
            full = limit - size < smallest
            continue
        if group is None:
            groups[meter] = group = []
            indices[meter] = []
        group.append(entry)
        indices[meter].append(index)
        size += cost
    body = (
        "["
        + ",".join(
            f"{_GROUP_HEAD}{meter_json[m]}{_GROUP_VALUES}{','.join(v)}{_GROUP_TAIL}"
            for m, v in groups.items()
        )
        + "]"
    ).encode("ascii")
    if len(body) != size:  # the running count is what keeps the bound: it must be exact
        raise AssertionError(f"payload size miscounted: {len(body)} != {size}")
    return Packed(body=body, meters=indices, rejected=rejected)


def max_readings(limit: int, time_format: TimeFormat) -> int:
    """The most readings one body of ``limit`` bytes can hold (each entry's least size)."""
    smallest = 1 + len('["",]') + time_format.shortest + _SMALLEST_VALUE
    return limit // smallest + 1
