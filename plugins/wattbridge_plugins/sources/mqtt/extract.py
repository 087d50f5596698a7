"""From one MQTT message to one reading, by one subscription's rules.

Every way a payload can be unfit ends in :class:`Rejected` with a reason that names
the topic, never in another exception, so the source can count and log it and go on.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

import attrs

from wattbridge import Reading, Value, to_value
from wattbridge_plugins.sources.mqtt import jsonpath
from wattbridge_plugins.sources.mqtt.config import Subscription

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INTEGER = re.compile(r"[-+]?\d+")

# Epoch numbers at or above this are milliseconds ("auto"): 1e11 seconds is the year 5138.
_MS_THRESHOLD = 100_000_000_000


class Rejected(ValueError):
    """A message gave no reading; the text says why."""


@attrs.frozen
class Rule:
    """A subscription with its paths parsed once."""

    subscription: Subscription
    value: tuple[jsonpath.Step, ...] | None
    timestamp: tuple[jsonpath.Step, ...] | None
    zone: tzinfo
    source: str

    @classmethod
    def of(cls, subscription: Subscription, source: str) -> Rule:
        """Compile ``subscription`` (its paths were checked with the config)."""
        return cls(
            subscription,
            jsonpath.parse(subscription.value) if subscription.value else None,
            jsonpath.parse(subscription.timestamp) if subscription.timestamp else None,
            ZoneInfo(subscription.timezone),
            source,
        )


def plain_number(text: str) -> int | float:
    """A payload that is just a number ("21.5", "-3", "1e3")."""
    stripped = text.strip()
    if _INTEGER.fullmatch(stripped):
        return int(stripped)
    if _NUMBER.fullmatch(stripped):
        number = float(stripped)
        if math.isfinite(number):
            return number
    raise Rejected(f"payload {_short(text)} is not a number")


def extract(rule: Rule, topic: str, payload: bytes, arrived: datetime) -> Reading:
    """The reading ``rule`` makes of a message; raises :class:`Rejected`."""
    sub = rule.subscription
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(f"{topic}: payload is not UTF-8 text") from None
    try:
        if rule.value is None and rule.timestamp is None:
            value: Value = plain_number(text)
            timestamp = arrived
        else:
            data = _json(text)
            raw = data if rule.value is None else jsonpath.pick(data, rule.value)
            value = _value(raw)
            timestamp = (
                arrived
                if rule.timestamp is None
                else _timestamp(jsonpath.pick(data, rule.timestamp), sub, rule.zone)
            )
        if sub.scale != 1.0 and not isinstance(value, str):
            value = value * sub.scale
        levels = topic.split("/")
        stream = sub.stream.format(*levels, topic=topic)
        return Reading(stream, timestamp, value, unit=sub.unit, source=rule.source)
    except Rejected as exc:
        raise Rejected(f"{topic}: {exc}") from None
    except (ValueError, IndexError, OverflowError) as exc:
        # PathError and InvalidReading are ValueErrors; so is an int of over 4300 digits.
        raise Rejected(f"{topic}: {exc}") from None


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise Rejected(f"payload {_short(text)} is not JSON") from None


def _value(raw: object) -> Value:
    if isinstance(raw, bool | int | float | str):
        return to_value(raw)  # an InvalidReading (a ValueError) becomes Rejected above
    raise Rejected(f"value {_short(json.dumps(raw))} is not a number or a string")


def _timestamp(raw: object, sub: Subscription, zone: tzinfo) -> datetime:
    style = sub.timestamp_format
    if isinstance(raw, bool) or raw is None or isinstance(raw, dict | list):
        raise Rejected(f"timestamp {raw!r} is not a time")
    if isinstance(raw, int | float) and style in ("auto", "epoch_s", "epoch_ms"):
        millis = style == "epoch_ms" or (style == "auto" and abs(raw) >= _MS_THRESHOLD)
        seconds = raw / 1000 if millis else raw
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise Rejected(f"timestamp {raw!r} is out of range") from None
    if isinstance(raw, str) and style in ("auto", "iso"):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise Rejected(f"timestamp {_short(raw)} is not ISO 8601") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)
    raise Rejected(f"timestamp {_short(repr(raw))} is not {style}")


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
