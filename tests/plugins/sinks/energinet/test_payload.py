"""Packing: every body within its bound, in the documented format, every reading once."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge import Reading
from wattbridge_plugins.sinks.energinet.payload import (
    TimeFormat,
    Unsendable,
    float_text,
    max_readings,
    pack,
)

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
OLDEST = datetime(2021, 11, 22, 12, 0, tzinfo=UTC)
METERS = {"a": "7777777777", "b": "6666666666", "c": "M-3", "d": 'odd "id" \u00e6'}
STAMP = {
    "minutes": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d$"),
    "seconds": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$"),
    "offset": re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$"),
}


def check_format(body: bytes, style: str) -> list[tuple[str, list[list[object]]]]:
    """The documented shape, strictly: a list of {meterID: str, values: [[str, float]]}."""
    data = json.loads(body)
    assert isinstance(data, list) and data
    groups = []
    for item in data:
        assert isinstance(item, dict) and set(item) == {"meterID", "values"}
        assert isinstance(item["meterID"], str)
        assert isinstance(item["values"], list) and item["values"]
        for pair in item["values"]:
            assert isinstance(pair, list) and len(pair) == 2
            assert isinstance(pair[0], str) and STAMP[style].match(pair[0]), pair[0]
            assert type(pair[1]) is float  # "The value field can only be a floating-point number"
        groups.append((item["meterID"], item["values"]))
    return groups


values = st.one_of(
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(max_size=5),
)
minutes = st.integers(0, 6 * 366 * 24 * 60)
readings_strategy = st.lists(
    st.builds(
        lambda stream, minute, second, value: Reading(
            stream, NOW - timedelta(minutes=minute, seconds=second), value
        ),
        st.sampled_from([*METERS, "unmapped"]),
        minutes,
        st.sampled_from([0, 0, 0, 17]),
        values,
    ),
    max_size=250,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    readings=readings_strategy,
    limit=st.integers(1000, 6000),
    style=st.sampled_from(["minutes", "seconds", "offset"]),
    zone=st.sampled_from(["UTC", "Europe/Copenhagen"]),
)
def test_drain_holds_every_reading_once_within_the_bound(readings, limit, style, zone):
    time_format = TimeFormat(zone, style)
    remaining = list(range(len(readings)))
    sent: list[int] = []
    rejected: dict[int, str] = {}
    while remaining:
        batch = [readings[i] for i in remaining]
        packed = pack(batch, METERS.get, limit=limit, time_format=time_format, oldest=OLDEST)
        assert len(packed.body) <= limit
        assert not set(packed.sent) & set(packed.rejected)
        if packed.sent:
            groups = check_format(packed.body, style)
            assert [m for m, _ in groups] == list(packed.meters)
            for (meter, pairs), indices in zip(groups, packed.meters.values(), strict=True):
                assert len(pairs) == len(indices)
                for (stamp, number), index in zip(pairs, indices, strict=True):
                    reading = batch[index]
                    assert METERS[reading.stream] == meter
                    assert number == float(reading.value)
                    assert stamp == time_format.format(reading.timestamp)
        done = {remaining[i] for i in packed.sent} | {remaining[i] for i in packed.rejected}
        assert done, "a pack must make progress"
        sent.extend(remaining[i] for i in packed.sent)
        rejected.update({remaining[i]: r for i, r in packed.rejected.items()})
        remaining = [i for i in remaining if i not in done]
    assert sorted(sent + list(rejected)) == list(range(len(readings)))  # each exactly once
    for index, reason in rejected.items():
        reading = readings[index]
        if isinstance(reading.value, str):
            assert "text" in reason or "mapped" in reason or "five years" in reason
    for index in sent:
        reading = readings[index]
        assert reading.stream in METERS and not isinstance(reading.value, str)
        assert reading.timestamp >= OLDEST


def test_string_values_unmapped_streams_and_old_readings_are_refused_with_a_reason():
    readings = [
        Reading("a", NOW, "on"),
        Reading("zzz", NOW, 1.0),
        Reading("a", OLDEST - timedelta(minutes=1), 1.0),
        Reading("a", NOW, 7),
    ]
    packed = pack(readings, METERS.get, limit=1000, time_format=TimeFormat(), oldest=OLDEST)
    assert packed.rejected[0] == "value 'on' is text; energinet.net takes only numbers"
    assert "mapped to no meter" in packed.rejected[1]
    assert "older than five years" in packed.rejected[2]
    assert packed.body == b'[{"meterID":"7777777777","values":[["2026-11-21T12:00",7.0]]}]'


def test_a_second_value_for_one_meter_and_time_waits_for_the_next_request():
    readings = [Reading("a", NOW, 1.0), Reading("a", NOW, 2.0), Reading("b", NOW, 3.0)]
    first = pack(readings, METERS.get, limit=1000, time_format=TimeFormat(), oldest=OLDEST)
    assert first.sent == [0, 2]
    second = pack(readings[1:2], METERS.get, limit=1000, time_format=TimeFormat(), oldest=OLDEST)
    assert second.sent == [0]


def test_full_payloads_come_within_a_percent_of_the_bound():
    start = NOW - timedelta(days=60)
    readings = [
        Reading(stream, start + timedelta(minutes=15 * n), 1000 + n * 0.125)
        for n in range(6000)
        for stream in METERS
    ]
    limit = 500_000
    time_format = TimeFormat()
    assert len(readings) > max_readings(limit, time_format)
    batch = readings[: max_readings(limit, time_format)]
    packed = pack(batch, METERS.get, limit=limit, time_format=time_format, oldest=OLDEST)
    assert limit * 0.99 <= len(packed.body) <= limit
    assert len(packed.sent) < len(batch)  # the batch offered more than fits


def test_time_zone_and_styles():
    winter = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
    assert TimeFormat("UTC", "minutes").format(winter) == "2026-01-15T00:00"
    assert TimeFormat("Europe/Copenhagen", "minutes").format(winter) == "2026-01-15T01:00"
    assert TimeFormat("Europe/Copenhagen", "seconds").format(winter) == "2026-01-15T01:00:00"
    assert TimeFormat("Europe/Copenhagen", "offset").format(winter) == "2026-01-15T01:00:00+01:00"
    assert TimeFormat("UTC", "offset").format(winter) == "2026-01-15T00:00:00Z"
    with pytest.raises(Unsendable, match="seconds"):
        TimeFormat().format(winter + timedelta(seconds=5))
    # 25 October 2026, clocks go back at 01:00 UTC: 00:30 and 01:30 UTC are both 02:30.
    first, second = (
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
    )
    local = TimeFormat("Europe/Copenhagen", "minutes")
    assert local.format(first) == "2026-10-25T02:30"
    with pytest.raises(Unsendable, match="repeated hour"):
        local.format(second)
    assert TimeFormat("Europe/Copenhagen", "offset").format(second) == "2026-10-25T02:30:00+01:00"


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    count=st.integers(15_000, 45_000),
    seed=st.integers(0, 2**32 - 1),
    style=st.sampled_from(["minutes", "offset"]),
)
def test_at_the_real_bound_every_body_fits_and_drains_every_reading_once(count, seed, style):
    rng = random.Random(seed)
    streams = list(METERS)
    readings = [
        Reading(
            rng.choice(streams),
            NOW - timedelta(minutes=15 * rng.randrange(0, 100_000)),
            rng.choice([rng.uniform(-1e6, 1e6), rng.randrange(-(10**12), 10**12), 0.5]),
        )
        for _ in range(count)
    ]
    time_format = TimeFormat("UTC", style)
    batch_size = max_readings(500_000, time_format)
    remaining = list(range(len(readings)))
    seen: list[int] = []
    while remaining:
        batch = [readings[i] for i in remaining[:batch_size]]
        packed = pack(batch, METERS.get, limit=500_000, time_format=time_format, oldest=OLDEST)
        assert len(packed.body) <= 500_000
        check_format(packed.body, style)
        done = {remaining[i] for i in packed.sent} | {remaining[i] for i in packed.rejected}
        assert done
        seen.extend(done)
        remaining = [i for i in remaining if i not in done]
    assert sorted(seen) == list(range(len(readings)))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 10**400, "45"])
def test_a_value_json_cannot_carry_as_a_float_is_unsendable(value):
    # The core refuses non-finite readings first; the sink never writes NaN all the same.
    with pytest.raises(Unsendable):
        float_text(value)
