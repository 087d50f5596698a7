"""What the MQTT door decides about one message: may this token publish it, and what of
it is stored. Pure functions of the topic, the payload, the token and the datastreams,
so that each documented rule is tested without a network.

From the platform's MQTT text:

- a datastream's topic is its dataset's prefix and its suffix (``prefix/suffix``); "the
  datastream associated with the message is inferred from the MQTT topic";
- single-value messages are ``{"timestamp": <epoch ms, an integer>, "value": v}``, v of
  the datastream's type (string, double or integer);
- multi-value messages carry a table as ``value``; the text's example keys are full
  topics (``"my/topic/suffix1"``). Keys are read as full topics, or as suffixes below
  the topic the message is published on (the dataset's prefix), since the text's
  publisher example is cut off before it shows where such a message goes;
- "to use the MQTT API, you must have write rights": a message is authorized when the
  token may write every datastream it names. A topic that is no datastream's names
  nothing one may write, so it is refused too (and the client disconnected).

A message that is authorized but whose payload is not of the documented form is
forwarded (authorization is all the text says is checked before forwarding) but not
stored; the sandbox records why.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import attrs

from wattbridge_plugins.sinks.energydata.sandbox.store import Datastream, TokenInfo

_INT64 = 2**63


@attrs.frozen
class Verdict:
    """The decision on one PUBLISH."""

    refusal: str | None
    """Why the token may not publish this (the client is then disconnected), or None."""
    values: list[tuple[int, int, Any]] = attrs.field(factory=list)
    """(datastream, epoch ms, value) to store."""
    invalid: str | None = None
    """Why an authorized message's payload cannot be stored, or None."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json(payload: bytes) -> Any:
    """The payload's JSON (strict: no NaN or Infinity); ValueError otherwise."""
    try:
        return json.loads(payload.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ValueError("the payload is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"the payload is not JSON: {exc.msg}") from None


def check_value(value: Any, stream: Datastream) -> Any:
    """``value`` if it is of ``stream``'s type; ValueError naming the datastream if not."""
    kind = stream.type
    if kind == "string" and isinstance(value, str):
        return value
    if kind == "integer" and isinstance(value, int) and not isinstance(value, bool):
        if -_INT64 <= value < _INT64:
            return value
        raise ValueError(f"{value} is outside the 64-bit integer range ({stream.topic})")
    if kind == "double" and isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        if math.isfinite(number):
            return number
    raise ValueError(f"{json.dumps(value)} is not a {kind} value for {stream.topic}")


def _timestamp(data: Any) -> int:
    if not isinstance(data, dict) or set(data) != {"timestamp", "value"}:
        raise ValueError('the payload must be {"timestamp": <epoch ms>, "value": ...}')
    stamp = data["timestamp"]
    if not isinstance(stamp, int) or isinstance(stamp, bool) or not 0 <= stamp < _INT64:
        raise ValueError(f"timestamp {json.dumps(stamp)} is not an integer of epoch milliseconds")
    return stamp


def judge(
    topic: str, payload: bytes, info: TokenInfo, streams: Mapping[str, Datastream]
) -> Verdict:
    """The decision on a PUBLISH of ``payload`` to ``topic`` by the holder of ``info``;
    ``streams`` maps every datastream's topic to it."""
    single = streams.get(topic)
    if single is not None:
        if not info.may_write(single.id):
            return Verdict(f"no write access to datastream {topic!r}")
        try:
            data = _json(payload)
            stamp = _timestamp(data)
            return Verdict(None, [(single.id, stamp, check_value(data["value"], single))])
        except ValueError as exc:
            return Verdict(None, invalid=str(exc))
    below = [s for name, s in streams.items() if name.startswith(topic + "/")]
    if not below:
        return Verdict(f"{topic!r} is not the topic of a datastream or a dataset's prefix")
    try:
        data = _json(payload)
        stamp = _timestamp(data)
        table = data["value"]
        if not isinstance(table, dict) or not table:
            raise ValueError(f"a message on the prefix {topic!r} needs a table of values")
    except ValueError as exc:
        if not any(info.may_write(s.id) for s in below):
            return Verdict(f"no write access below {topic!r}")
        return Verdict(None, invalid=str(exc))
    values: list[tuple[int, int, Any]] = []
    problems: list[str] = []
    for key, value in table.items():
        stream = streams.get(key) or streams.get(f"{topic}/{key}")
        if stream is None:
            return Verdict(f"{key!r} in a message on {topic!r} is not a datastream")
        if not info.may_write(stream.id):
            return Verdict(f"no write access to datastream {stream.topic!r}")
        try:
            values.append((stream.id, stamp, check_value(value, stream)))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        return Verdict(None, invalid="; ".join(problems))
    return Verdict(None, values)


def may_receive(topic: str, info: TokenInfo, streams: Mapping[str, Datastream]) -> bool:
    """True if a subscriber holding ``info`` may be sent a message on ``topic``: it may
    read the topic's datastream, or one below it (a multi-value message)."""
    single = streams.get(topic)
    if single is not None:
        return info.may_read(single.id)
    return any(info.may_read(s.id) for n, s in streams.items() if n.startswith(topic + "/"))
