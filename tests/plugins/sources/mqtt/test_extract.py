"""Turning payloads into readings: JSON paths, timestamps, and any payload at all."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge import Reading
from wattbridge._sources import SourceContext
from wattbridge_plugins.sources.mqtt import jsonpath
from wattbridge_plugins.sources.mqtt.config import MqttSourceConfig, Subscription
from wattbridge_plugins.sources.mqtt.extract import Rejected, Rule, extract, plain_number
from wattbridge_plugins.sources.mqtt.source import MqttSource

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def rule(**keys: Any) -> Rule:
    return Rule.of(Subscription(**{"topic": "#", **keys}), "src")


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("ENERGY.Power", ("ENERGY", "Power")),
        ("$.a.b[0]", ("a", "b", 0)),
        ("$['key.with.dots'].x", ("key.with.dots", "x")),
        ('a[-1]["q"]', ("a", -1, "q")),
        ("$[2]", (2,)),
    ],
)
def test_paths_parse(path: str, steps: tuple[Any, ...]) -> None:
    assert jsonpath.parse(path) == steps


@pytest.mark.parametrize("path", ["", "$", "a..b", "a[x]", "a[", "a['b]"])
def test_bad_paths_are_refused(path: str) -> None:
    with pytest.raises(jsonpath.PathError):
        jsonpath.parse(path)


def test_pick_says_what_is_missing() -> None:
    with pytest.raises(jsonpath.PathError, match=r"\$.a has no key 'c'"):
        jsonpath.pick({"a": {"b": 1}}, ("a", "c"))
    with pytest.raises(jsonpath.PathError, match="no item"):
        jsonpath.pick({"a": [1]}, ("a", 3))


@pytest.mark.parametrize(
    ("text", "number"), [("1", 1), (" -2.5\n", -2.5), ("1e3", 1000.0), ("+7", 7), (".5", 0.5)]
)
def test_plain_numbers(text: str, number: float) -> None:
    value = plain_number(text)
    assert value == number and type(value) is type(number)


@pytest.mark.parametrize("text", ["", "nan", "inf", "1e999", "0x10", "1_000", "ON", "12 W"])
def test_not_plain_numbers(text: str) -> None:
    with pytest.raises(Rejected):
        plain_number(text)


JAN1 = datetime(2026, 1, 1, tzinfo=UTC)
JUL1 = datetime(2026, 7, 1, tzinfo=UTC)
SECOND1 = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)
TS = {"timestamp": "t"}
CPH = {**TS, "timezone": "Europe/Copenhagen"}
TIMESTAMP_CASES = [
    (TS, {"v": 1, "t": 1767225600}, JAN1),
    (TS, {"v": 1, "t": 1767225600000}, JAN1),
    ({**TS, "timestamp_format": "epoch_ms"}, {"v": 1, "t": 1000}, SECOND1),
    (TS, {"v": 1, "t": "2026-01-01T01:00:00+01:00"}, JAN1),
    (CPH, {"v": 1, "t": "2026-07-01T02:00:00"}, JUL1),
    ({}, {"v": 1}, NOW),
]  # fmt: skip


@pytest.mark.parametrize(("keys", "payload", "timestamp"), TIMESTAMP_CASES)
def test_timestamps(keys: dict[str, Any], payload: Any, timestamp: datetime) -> None:
    reading = extract(rule(value="v", **keys), "t/x", json.dumps(payload).encode(), NOW)
    assert reading.timestamp == timestamp


def test_iso_refused_where_epoch_is_configured() -> None:
    with pytest.raises(Rejected, match="is not epoch_s"):
        extract(rule(value="v", timestamp="t", timestamp_format="epoch_s"), "x",
                b'{"v": 1, "t": "2026-01-01T00:00:00Z"}', NOW)  # fmt: skip


def test_stream_template_scale_and_unit() -> None:
    r = rule(stream="{1}/{3}", value="Total", scale=0.001, unit="kWh")
    reading = extract(r, "zigbee2mqtt/plug/x/energy", b'{"Total": 1500}', NOW)
    assert reading == Reading("plug/energy", NOW, 1.5, unit="kWh", source="src")


# -- any payload: readings or a counted rejection, never an exception --------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
payloads = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(
        lambda v, t: json.dumps({"ENERGY": {"Power": v}, "Time": t}).encode(),
        json_values,
        st.one_of(json_values, st.integers(), st.text(max_size=30)),
    ),
    st.sampled_from([b"1" * 5000, b"[" * 5000, b"1e308", b"-0", b"9" * 400]),
)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> MqttSource:
    subscriptions = [
        Subscription(topic="plain/#"),
        Subscription(topic="tele/+/SENSOR", value="ENERGY.Power", timestamp="Time"),
        Subscription(topic="tele/+/SENSOR", stream="{1}", value="ENERGY.Power", scale=1e300),
        Subscription(
            topic="#", stream="{topic}", value="$[0]", timestamp="$[1]", timestamp_format="epoch_ms"
        ),
    ]
    config = MqttSourceConfig(subscriptions=subscriptions)
    state: Path = tmp_path_factory.mktemp("state")
    return MqttSource(config, SourceContext("any", state, logging.getLogger("test.mqtt")))


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(topic=st.sampled_from(["plain/x", "tele/dev/SENSOR", "other", "a/b/c"]), payload=payloads)
def test_any_payload_gives_readings_or_a_counted_rejection(
    source: MqttSource, topic: str, payload: bytes
) -> None:
    matching = sum(1 for r in source.rules if _matches(r.subscription.topic, topic))
    before = source.rejected
    readings = source.readings_of(topic, payload, NOW)
    assert all(isinstance(r, Reading) for r in readings)
    assert len(readings) + (source.rejected - before) == matching


def _matches(pattern: str, topic: str) -> bool:
    from paho.mqtt.client import topic_matches_sub

    return bool(topic_matches_sub(pattern, topic))


def test_rejections_are_logged_first_and_every_hundredth(
    source: MqttSource, caplog: pytest.LogCaptureFixture
) -> None:
    source.rejected = 0
    caplog.set_level(logging.WARNING, "test.mqtt")
    for _ in range(200):
        source.readings_of("plain/x", b"ON", NOW)
    assert source.rejected == 400  # "plain/#" and "#" both match: two rejections a message
    warnings = [r for r in caplog.records if "message skipped" in r.getMessage()]
    counts = [w.getMessage().split("(")[1].split()[0] for w in warnings]
    assert counts == ["1", "100", "200", "300", "400"]
