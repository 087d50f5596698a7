"""Payloads and plans of the energydata-mqtt sink: what it builds parses back to the
readings it came from, and only configured datastreams are ever published."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge import Batch, Reading, Secret
from wattbridge._config import ConfigError
from wattbridge.testing import plugin_config
from wattbridge_plugins.sinks.energydata.mqtt.config import EnergyDataMqttConfig
from wattbridge_plugins.sinks.energydata.mqtt.payload import decode, epoch_ms, reading_key
from wattbridge_plugins.sinks.energydata.mqtt.sink import plan_batch

SUFFIXES = ["a", "meter/import", "x/y/z", "æøå/kWh", 'quote"d', "sp ace"]

values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
timestamps = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
readings = st.builds(Reading, stream=st.sampled_from(SUFFIXES), timestamp=timestamps, value=values)


def config(**keys: Any) -> EnergyDataMqttConfig:
    base: dict[str, Any] = {"token": Secret("t0k3n"), "prefix": "pre", "datastreams": SUFFIXES}
    base.update(keys)
    return EnergyDataMqttConfig(**base)


def parse_back(cfg: EnergyDataMqttConfig, batch: Batch) -> list[tuple[str, int, Any]]:
    plan = plan_batch(cfg, batch)
    assert plan.rejected == {}
    topics = {cfg.topic(s): s for s in SUFFIXES}
    out = []
    for message in plan.messages:
        decoded = decode(message.topic, message.payload, topics, cfg.multi_topic)
        assert len(decoded) == len(message.indices)
        out += [(d.suffix, d.epoch_ms, d.value) for d in decoded]
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(readings, max_size=30), st.booleans())
def test_payloads_parse_back_to_their_readings(items: list[Reading], multi: bool) -> None:
    cfg = config(multi_value=multi)
    batch = Batch(items, list(range(len(items))))
    got = parse_back(cfg, batch)
    # Every reading exactly once; the platform keeps milliseconds.
    assert sorted(got, key=repr) == sorted((reading_key(r) for r in items), key=repr)
    for (_, _, value), reading in zip(
        sorted(got, key=repr), sorted(items, key=lambda r: repr(reading_key(r))), strict=True
    ):
        assert type(value) is type(reading.value)


def test_multi_value_groups_by_millisecond_and_splits_repeats() -> None:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    items = [
        Reading("a", t, 1),
        Reading("x/y/z", t, 2.5),
        Reading("a", t + timedelta(microseconds=10), 3),  # same ms, same stream: 2nd message
        Reading("a", t + timedelta(seconds=1), 4),
    ]
    plan = plan_batch(config(multi_value=True), Batch(items, [1, 2, 3, 4]))
    ms = epoch_ms(t)
    assert [(m.topic, m.payload, m.indices) for m in plan.messages] == [
        ("pre", f'{{"timestamp": {ms}, "value": {{"a": 1, "x/y/z": 2.5}}}}'.encode(), (0, 1)),
        ("pre", f'{{"timestamp": {ms}, "value": {{"a": 3}}}}'.encode(), (2,)),
        ("pre", f'{{"timestamp": {ms + 1000}, "value": {{"a": 4}}}}'.encode(), (3,)),
    ]


def test_topic_join_and_multi_topic_are_configurable() -> None:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    batch = Batch([Reading("a", t, 1)], [1])
    assert plan_batch(config(), batch).messages[0].topic == "pre/a"
    assert plan_batch(config(separator=""), batch).messages[0].topic == "prea"
    cfg = config(multi_value=True, multi_value_topic="pre/multi")
    assert plan_batch(cfg, batch).messages[0].topic == "pre/multi"


def test_unknown_datastreams_are_refused_before_publishing() -> None:
    t = datetime(2026, 3, 1, tzinfo=UTC)
    batch = Batch([Reading("a", t, 1), Reading("pre/#", t, 1), Reading("other", t, 2)], [1, 2, 3])
    plan = plan_batch(config(), batch)
    assert [m.topic for m in plan.messages] == ["pre/a"]
    assert set(plan.rejected) == {1, 2}
    assert "not in this sink's datastreams" in plan.rejected[2]


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"window": 901}, "window 901 refused"),
        ({"window": 0}, "at least 1"),
        ({"prefix": "a/#"}, "wildcards"),
        ({"datastreams": []}, "at least one"),
        ({"datastreams": {"a": "float"}}, "'float' is not one of"),
    ],
)
def test_config_mistakes_are_named(
    wattbridge_registry: Any, tmp_path: Path, keys: dict[str, Any], message: str
) -> None:
    base: dict[str, Any] = {"token": "t0k3n", "prefix": "pre", "datastreams": ["a"]}
    with pytest.raises(ConfigError) as info:
        plugin_config(wattbridge_registry, "sinks", "energydata-mqtt", tmp_path, **{**base, **keys})
    assert message in str(info.value)


def test_window_of_900_is_accepted(wattbridge_registry: Any, tmp_path: Path) -> None:
    cfg = plugin_config(
        wattbridge_registry, "sinks", "energydata-mqtt", tmp_path,
        token="t0k3n", prefix="pre", datastreams={"a": "double"}, window=900,
    )  # fmt: skip
    assert cfg.window == 900 and cfg.port == 8883 and cfg.host == "mqtts.energydata.dk"
    assert cfg.tls and cfg.password is None
