"""HA's recorder answers over the websocket (history in its compressed form, hourly
statistics in epoch milliseconds) to states and readings, and the delivered-times file.

The message shapes are HA's own: ``history/history_during_period`` answers
``{entity_id: [{"s": state, "a": attributes, "lu": epoch s, "lc": epoch s}, ...]}``
(``lc`` only when it differs from ``lu``; attributes may be left out after the first
state), ``recorder/statistics_during_period`` answers ``{statistic_id: [{"start": ms,
"end": ms, "state": x}, ...]}``. Anything else HA (or a proxy) might send is left out,
never raised on (hypothesis).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from wattbridge_plugins.sources.homeassistant.delivered import DeliveredTimes
from wattbridge_plugins.sources.homeassistant.history import (
    history_command,
    readings_from_statistics,
    states_from_history,
    statistics_command,
)
from wattbridge_plugins.sources.homeassistant.states import EntitySelection, StateConverter

LOG = logging.getLogger("test")


def test_history_command_asks_for_every_change_with_attributes() -> None:
    start = datetime(2026, 12, 1, 6, tzinfo=UTC)
    command = history_command(["sensor.b", "sensor.a"], start, start + timedelta(hours=1))
    assert command == {
        "type": "history/history_during_period",
        "start_time": "2026-12-01T06:00:00+00:00",
        "end_time": "2026-12-01T07:00:00+00:00",
        "entity_ids": ["sensor.a", "sensor.b"],
        "include_start_time_state": True,
        "significant_changes_only": False,
        "minimal_response": False,
        "no_attributes": False,
    }


def test_compressed_history_becomes_states_with_attributes_carried_forward() -> None:
    answer = {
        "sensor.meter": [
            {"s": "1.5", "a": {"unit_of_measurement": "kWh"}, "lu": 1764568800.25},
            {"s": "2", "lu": 1764568900.0, "lc": 1764568860.5},
        ]
    }
    states = states_from_history(answer)
    assert states == [
        {
            "entity_id": "sensor.meter",
            "state": "1.5",
            "attributes": {"unit_of_measurement": "kWh"},
            "last_changed": 1764568800.25,
        },
        {
            "entity_id": "sensor.meter",
            "state": "2",
            "attributes": {"unit_of_measurement": "kWh"},
            "last_changed": 1764568860.5,
        },
    ]
    readings = StateConverter(EntitySelection(), LOG).convert_all(states)
    assert [(r.value, r.unit) for r in readings] == [(1.5, "kWh"), (2, "kWh")]
    assert readings[1].timestamp == datetime.fromtimestamp(1764568860.5, UTC)


def test_statistics_become_hourly_readings_at_each_hours_end() -> None:
    start = datetime(2026, 12, 1, 6, tzinfo=UTC)
    assert statistics_command(["sensor.meter"], start)["types"] == ["state"]
    answer = {
        "sensor.meter": [
            {"start": 1764568800000, "end": 1764572400000, "state": 1000.5},
            {"start": 1764572400000, "end": 1764576000000, "state": None},
            {"start": 1764576000000, "end": 1764579600000, "state": float("nan")},
        ]
    }
    readings = readings_from_statistics(answer, {"sensor.meter": "kWh"})
    assert [(r.stream, r.timestamp, r.value, r.unit) for r in readings] == [
        ("sensor.meter", datetime.fromtimestamp(1764572400, UTC), 1000.5, "kWh")
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_any_history_answer_gives_states_or_nothing_never_an_error(answer: object) -> None:
    states = states_from_history(answer)
    assert all(isinstance(state, dict) for state in states)
    StateConverter(EntitySelection(), LOG).convert_all(states)


@given(json_values, st.dictionaries(st.text(max_size=8), st.text(max_size=4), max_size=3))
def test_any_statistics_answer_gives_readings_or_nothing(answer: object, units: dict) -> None:
    for reading in readings_from_statistics(answer, units):
        assert reading.timestamp.tzinfo is not None


def test_delivered_times_survive_a_restart_and_never_go_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "delivered.json"
    first = DeliveredTimes(path, LOG)
    assert not first.load() and first.start_for(["sensor.a"]) == {}
    t1 = datetime(2026, 12, 1, 6, tzinfo=UTC)
    first.update([("sensor.a", t1), ("sensor.b", t1 + timedelta(minutes=5))])
    first.update([("sensor.a", t1 - timedelta(hours=1))])  # an old change, delivered late
    first.save()

    again = DeliveredTimes(path, LOG)
    assert again.load()
    assert again.times() == {"sensor.a": t1, "sensor.b": t1 + timedelta(minutes=5)}
    # An entity first seen now starts from the oldest known time.
    assert again.start_for(["sensor.b", "sensor.new"]) == {
        "sensor.b": t1 + timedelta(minutes=5),
        "sensor.new": t1,
    }


def test_a_damaged_delivered_file_is_ignored_with_a_warning(tmp_path: Path, caplog) -> None:
    path = tmp_path / "delivered.json"
    path.write_text("{not json", encoding="utf-8")
    assert not DeliveredTimes(path, LOG).load()
    assert "ignoring" in caplog.text and str(path) in caplog.text
    path.write_text(json.dumps({"sensor.a": "yesterday", "sensor.b": "2026-12-01T06:00:00+00:00"}))
    times = DeliveredTimes(path, LOG)
    assert times.load() and list(times.times()) == ["sensor.b"]
