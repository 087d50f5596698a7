"""The wall clock's grid: poll ticks and resampling windows, across Copenhagen's clock
changes (30 March and 26 October 2025), checked against the zone database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge._grid import Grid, check_every, next_tick, tick_at_or_before, zone_named

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
EVERY = [timedelta(seconds=s) for s in (1, 10, 60, 300, 900, 1800, 3600, 7200, 21600, 86400)]
US = timedelta(microseconds=1)

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)
# Weighted to the clock changes, where the arithmetic has work to do.
near_changes = st.sampled_from(
    [datetime(2025, 3, 30, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC)]
).flatmap(
    lambda change: st.integers(-(2 * 86_400_000_000), 2 * 86_400_000_000).map(
        lambda us: change + timedelta(microseconds=us)
    )
)


def _wall_seconds(instant: datetime) -> int:
    local = instant.astimezone(COPENHAGEN)
    return local.hour * 3600 + local.minute * 60 + local.second


def _offset_changes_at(instant: datetime) -> bool:
    return (instant - US).astimezone(COPENHAGEN).utcoffset() != instant.astimezone(
        COPENHAGEN
    ).utcoffset()


@given(instant=st.one_of(instants, near_changes), every=st.sampled_from(EVERY))
def test_every_instant_is_in_exactly_one_window(instant: datetime, every: timedelta) -> None:
    grid = Grid(every, COPENHAGEN)
    start, end = grid.window(instant)
    assert start <= instant < end
    # Neighbours meet: the window after starts at this one's end, the one before ends
    # at its start, so windows neither overlap nor leave gaps.
    assert grid.window(end)[0] == end
    assert grid.window(start - US)[1] == start
    assert grid.window(start) == (start, end)


@given(instant=st.one_of(instants, near_changes), every=st.sampled_from(EVERY))
def test_windows_start_on_the_local_grid(instant: datetime, every: timedelta) -> None:
    start, end = Grid(every, COPENHAGEN).window(instant)
    seconds = int(every.total_seconds())
    for edge in (start, end):
        # On the grid of local wall time, or where the clock changed (the March hour
        # that does not exist, the October hour that comes twice).
        assert _wall_seconds(edge) % seconds == 0 or _offset_changes_at(edge)
        assert edge.microsecond == 0
    # Never longer than every plus the hour a clock change adds.
    assert end - start <= every + timedelta(hours=1)


@given(instant=instants, every=st.sampled_from(EVERY))
def test_in_utc_windows_are_epoch_multiples(instant: datetime, every: timedelta) -> None:
    start, end = Grid(every, UTC).window(instant)
    assert start == tick_at_or_before(instant, every)
    assert end == start + every


@given(day=st.dates(min_value=datetime(2000, 1, 1).date(), max_value=datetime(2039, 1, 1).date()))
def test_a_day_window_is_a_danish_day(day: object) -> None:
    midnight = datetime.combine(day, datetime.min.time(), COPENHAGEN)  # type: ignore[call-overload]
    start, end = Grid(timedelta(days=1), COPENHAGEN).window(midnight + timedelta(hours=12))
    assert start == midnight
    assert end.astimezone(COPENHAGEN).time() == datetime.min.time()
    assert end - start in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25))


@pytest.mark.parametrize(
    ("day", "every", "windows"),
    [
        ("2025-10-26", "15m", 100),  # 25 hours
        ("2025-10-26", "1h", 25),
        ("2025-03-30", "15m", 92),  # 23 hours
        ("2025-03-30", "1h", 23),
        ("2025-06-01", "15m", 96),
        ("2025-10-26", "1d", 1),
    ],
)
def test_windows_in_a_danish_day(day: str, every: str, windows: int) -> None:
    from wattbridge import parse_duration

    grid = Grid(parse_duration(every), COPENHAGEN)
    at = datetime.fromisoformat(day).replace(tzinfo=COPENHAGEN)
    stop = (at + timedelta(days=1, hours=12)).replace(hour=0)
    stop = stop.replace(tzinfo=COPENHAGEN)
    starts = []
    while at < stop:
        start, end = grid.window(at)
        starts.append(start)
        at = end
    assert len(starts) == windows
    assert len(set(starts)) == windows


def test_the_repeated_october_hour_is_two_windows() -> None:
    grid = Grid(timedelta(hours=1), COPENHAGEN)
    first = datetime(2025, 10, 26, 0, 30, tzinfo=UTC)  # 02:30 summer time
    second = datetime(2025, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 standard time
    assert grid.window(first) == (first - timedelta(minutes=30), first + timedelta(minutes=30))
    assert grid.window(second) == (second - timedelta(minutes=30), second + timedelta(minutes=30))


@given(now=instants, every=st.sampled_from(EVERY))
def test_ticks(now: datetime, every: timedelta) -> None:
    tick = next_tick(now, every)
    assert now < tick <= now + every
    assert tick_at_or_before(tick, every) == tick
    assert tick_at_or_before(now, every) <= now < tick_at_or_before(now, every) + every


def test_quarter_hours_tick_at_the_quarters() -> None:
    at = datetime(2026, 1, 5, 10, 7, 31, 250_000, tzinfo=UTC)
    assert next_tick(at, timedelta(minutes=15)) == datetime(2026, 1, 5, 10, 15, tzinfo=UTC)
    assert next_tick(at, timedelta(seconds=10)) == datetime(2026, 1, 5, 10, 7, 40, tzinfo=UTC)


@pytest.mark.parametrize("every", ["7m", "7s", "2d", "500ms", "0s"])
def test_a_window_must_fit_a_day(every: str) -> None:
    from wattbridge import parse_duration

    with pytest.raises(ValueError, match="every must"):
        check_every(parse_duration(every))


def test_zone_names() -> None:
    assert zone_named("UTC") is UTC
    with pytest.raises(ValueError, match="'Europe/Kobenhavn' is not a known time zone"):
        zone_named("Europe/Kobenhavn")
