"""Resampling on real outboxes: every reading folded into exactly one window, each
closed window queued once, windows that survive the process, and readings that come
too late or cannot be folded dead-lettered with their reason."""

from __future__ import annotations

import statistics
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge import ConfigError, Reading
from wattbridge._bus import Bus
from wattbridge._config import Route, parse_config
from wattbridge._grid import Grid
from wattbridge._outbox import Outbox
from wattbridge._plugins import load_plugins
from wattbridge._resample import Resample, Resampler

# The day the clocks go back in Denmark, and the day before.
T0 = datetime(2025, 10, 25, 12, tzinfo=UTC)
FUNCTIONS = {
    "last": lambda values: values[-1],
    "mean": statistics.fmean,
    "min": min,
    "max": max,
    "sum": sum,
}


def _model(readings: list[Reading], spec: Resample) -> dict[tuple[str, datetime], float]:
    """What each window's value must be, computed apart from the resampler."""
    grid = Grid(spec.every, ZoneInfo(spec.zone) if spec.zone != "UTC" else UTC)
    windows: dict[tuple[str, datetime], list[float]] = defaultdict(list)
    for reading in readings:
        windows[(reading.stream, grid.window(reading.timestamp)[0])].append(reading.value)  # type: ignore[arg-type]
    return {key: FUNCTIONS[spec.how](values) for key, values in windows.items()}


@settings(max_examples=60)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(0, 3 * 3600),  # seconds after the previous reading
            st.sampled_from(["a", "b"]),
            st.integers(-1000, 1000),
        ),
        min_size=1,
        max_size=40,
    ),
    start_hours=st.integers(0, 40),
    every=st.sampled_from(["1m", "15m", "1h", "1d"]),
    how=st.sampled_from(list(FUNCTIONS)),
    zone=st.sampled_from(["UTC", "Europe/Copenhagen"]),
    chunk=st.integers(1, 7),
)
def test_every_reading_counts_in_exactly_one_window_sent_once(
    steps: list[tuple[int, str, int]],
    start_hours: int,
    every: str,
    how: str,
    zone: str,
    chunk: int,
) -> None:
    from wattbridge import parse_duration

    spec = Resample(parse_duration(every), how, zone)  # type: ignore[arg-type]
    at = T0 + timedelta(hours=start_hours)
    readings = []
    for gap, stream, value in steps:
        at += timedelta(seconds=gap)
        readings.append(Reading(stream, at, value, "kWh", "meter"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "out.db"
        outbox = Outbox(path)
        resampler = Resampler(outbox, None)
        for index in range(0, len(readings), chunk):
            if index and index % (3 * chunk) == 0:
                # A restart now and then: the open windows are read back from disk.
                outbox.close()
                outbox = Outbox(path)
                resampler = Resampler(outbox, None)
            resampler.add("route", spec, readings[index : index + chunk])
        resampler.close_due(at + spec.every + spec.grace + timedelta(days=1))
        queued = [(r.stream, r.timestamp, r.value) for r in outbox.iter_queued()]
        assert not outbox.dead_letters()
        outbox.close()
    expected = _model(readings, spec)
    assert len(queued) == len(expected)  # one value a window, none twice
    assert {(stream, ts): value for stream, ts, value in queued} == pytest.approx(expected)
    assert all(r.source == "meter" for r in readings)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    """A sink's outbox, closed after the test."""
    box = Outbox(tmp_path / "out.db")
    yield box
    box.close()


def test_a_window_closes_when_a_later_reading_comes_or_grace_after_its_end(
    outbox: Outbox,
) -> None:
    resampler = Resampler(outbox, None)
    spec = Resample(timedelta(minutes=15), "mean", grace=timedelta(seconds=30))
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    resampler.add("r", spec, [Reading("p", start + timedelta(minutes=m), m) for m in (0, 5, 10)])
    assert outbox.depth == 0 and resampler.open_windows == 1
    resampler.add("r", spec, [Reading("p", start + timedelta(minutes=15), 100)])
    assert [(r.timestamp, r.value) for r in outbox.iter_queued()] == [(start, 5.0)]
    assert resampler.close_due(start + timedelta(minutes=30, seconds=29)) == 0
    assert resampler.close_due(start + timedelta(minutes=30, seconds=30)) == 1
    assert [r.value for r in outbox.iter_queued()] == [5.0, 100.0]
    assert resampler.open_windows == 0


def test_late_and_unfoldable_readings_are_dead_lettered_with_the_reason(outbox: Outbox) -> None:
    resampler = Resampler(outbox, None)
    spec = Resample(timedelta(hours=1), "sum")
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    resampler.add("r", spec, [Reading("e", start, 1), Reading("e", start + timedelta(hours=1), 2)])
    late = Reading("e", start + timedelta(minutes=59), 7)
    closed, refused = resampler.add("r", spec, [late, Reading("e", start, "off")])
    assert (closed, refused) == (0, 2)
    letters = outbox.dead_letters()
    assert [letter.reading.value for letter in letters] == [7, "off"]
    assert "arrived late" in letters[0].reason and "1h window" in letters[0].reason
    assert "2026-01-05T11:00:00+00:00" in letters[0].reason
    assert "text value 'off' cannot be resampled with how = 'sum'" in letters[1].reason
    assert [r.value for r in outbox.iter_queued()] == [1]  # the sum sent stands


def test_text_values_resample_with_last(outbox: Outbox) -> None:
    resampler = Resampler(outbox, None)
    spec = Resample(timedelta(minutes=1), "last")
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    resampler.add(
        "r",
        spec,
        [
            Reading("s", start, "on"),
            Reading("s", start + timedelta(seconds=30), "off"),
            Reading("s", start + timedelta(minutes=1), "on"),
        ],
    )
    assert [r.value for r in outbox.iter_queued()] == ["off"]


def test_the_bus_resamples_a_route_and_passes_another_as_it_is(tmp_path: Path) -> None:
    boxes = {"edk": Outbox(tmp_path / "edk.db"), "raw": Outbox(tmp_path / "raw.db")}
    spec = Resample(timedelta(minutes=15), "max", "Europe/Copenhagen")
    bus = Bus(
        [
            Route(("house",), ("edk",), {"power_w": "meter/power"}, spec),
            Route(("house",), ("raw",)),
        ],
        boxes,
        credentials={"edk": lambda reading: "profile-a"},
    )
    start = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    bus.emit(
        "house", [Reading("power_w", start + timedelta(seconds=s), s) for s in range(0, 1000, 10)]
    )
    assert boxes["raw"].depth == 100
    (window,) = boxes["edk"].iter_queued()
    assert (window.stream, window.timestamp, window.value, window.source) == (
        "meter/power",
        start,
        890,
        "house",
    )
    assert boxes["edk"].credentials_waiting() == ["profile-a"]
    assert bus.open_windows("edk") == 1
    assert bus.close_windows(start + timedelta(hours=1)) == 1
    assert boxes["edk"].depth == 2
    for box in boxes.values():
        box.close()


def _config(tmp_path: Path, resample: str) -> None:
    registry = load_plugins(entry_points=False)
    text = f"""
[sources.house]
plugin = "replay"
[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
[[routes]]
from = "house"
to = "out"
[routes.resample]
{resample}
"""
    parse_config(text, tmp_path / "w.toml", registry)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('every = "7m"', "[[routes]] #1 resample: every must divide a day evenly"),
        ('every = "1h"\nhow = "avg"', "how: 'avg' is not one of 'last', 'mean', 'min'"),
        ('every = "1h"\nzone = "Europe/Kobenhavn"', "'Europe/Kobenhavn' is not a known time zone"),
        ('how = "mean"', "every: missing (required)"),
        ('every = "1h"\nwindow = "1h"', "window: unknown key"),
    ],
)
def test_the_resample_table_is_checked(tmp_path: Path, table: str, message: str) -> None:
    _config(tmp_path, 'every = "15m"\nhow = "mean"\nzone = "Europe/Copenhagen"')
    with pytest.raises(ConfigError) as caught:
        _config(tmp_path, table)
    assert message in str(caught.value)
