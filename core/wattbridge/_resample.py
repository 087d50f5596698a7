"""Per-route downsampling: ``[routes.resample] every = "15m", how = "mean"``.

Readings of a resampled route are folded, per source and stream, into the window of
:class:`~wattbridge._grid.Grid` that holds them; when a window closes its one value
(stamped with the window's start) is queued for the sink. A window closes when a
reading of a later window arrives, or, if none comes (a meter gone quiet), ``grace``
after its end.

Durable and exact: each window's running state lives in the sink's outbox database
(table ``resample``), written in the same transaction as the queue, so a reading is
accepted only once it is folded in on disk, and a closed window's value enters the
queue in the very transaction that forgets the window: never lost, never twice. A
reading that arrives after its window was closed cannot change the value already sent:
it is dead-lettered with a reason that says so, visible and replayable.
"""

from __future__ import annotations

import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

import attrs

from wattbridge._durations import format_duration
from wattbridge._grid import Grid, check_every, zone_named
from wattbridge._outbox import Outbox, Refusal
from wattbridge._readings import EPOCH, Reading, Value, from_epoch_us, to_epoch_us, trusted_reading

How = Literal["last", "mean", "min", "max", "sum"]


def _check_every(_instance: Any, _attribute: Any, every: timedelta) -> None:
    check_every(every)


def _check_zone(_instance: Any, _attribute: Any, zone: str) -> None:
    zone_named(zone)


@attrs.frozen
class Resample:
    """A route's ``[routes.resample]`` table."""

    every: timedelta = attrs.field(validator=_check_every)
    """The window length: whole seconds that divide a day (1m, 15m, 1h, 1d ...)."""
    how: How = "last"
    """The window's value: its last reading, or the mean, min, max or sum of them."""
    zone: str = attrs.field(default="UTC", validator=_check_zone)
    """The zone whose wall clock windows align to (hours and days of local time)."""
    grace: timedelta = attrs.field(
        default=timedelta(minutes=1), validator=attrs.validators.ge(timedelta(0))
    )
    """How long after its end a window with no later reading waits before it closes."""

    @property
    def time_resolution(self) -> timedelta:
        """What every resampled timestamp (a window's start) is a whole multiple of,
        since the epoch: ``every`` in UTC; in another zone, whose offsets from UTC are
        whole minutes, the largest part of a minute that ``every`` is a multiple of."""
        every_us = to_epoch_us(EPOCH + self.every)
        if self.zone == "UTC":
            return self.every
        return timedelta(microseconds=math.gcd(every_us, 60_000_000))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS resample (
    key TEXT PRIMARY KEY,
    stream TEXT NOT NULL,
    source TEXT NOT NULL,
    unit TEXT NOT NULL,
    how TEXT NOT NULL,
    every_us INTEGER NOT NULL,
    zone TEXT NOT NULL,
    grace_us INTEGER NOT NULL,
    start INTEGER,
    end INTEGER,
    closed_until INTEGER,
    count INTEGER NOT NULL,
    total,
    low,
    high,
    last
)
"""
_COLUMNS = (
    "key, stream, source, unit, how, every_us, zone, grace_us, start, end, closed_until,"
    " count, total, low, high, last"
)


@attrs.define
class Window:
    """One source's stream on one resampled route: its open window and what it holds."""

    key: str
    stream: str
    source: str
    unit: str
    how: str
    every_us: int
    zone: str
    grace_us: int
    start: int | None = None
    end: int | None = None
    closed_until: int | None = None
    """The end of the last window closed: readings before it come too late."""
    count: int = 0
    total: Value | None = None
    low: Value | None = None
    high: Value | None = None
    last: Value | None = None

    def row(self) -> tuple[Any, ...]:
        """The ``resample`` table's row."""
        return attrs.astuple(self, recurse=False)

    def fold(self, value: Value) -> None:
        """Add one reading's value to the open window."""
        self.count += 1
        self.last = value
        if isinstance(value, str):
            return
        self.total = value if self.total is None else self.total + value  # type: ignore[operator]
        self.low = value if self.low is None or value < self.low else self.low  # type: ignore[operator]
        self.high = value if self.high is None or value > self.high else self.high  # type: ignore[operator]

    def value(self) -> Value:
        """The open window's value, as ``how`` says."""
        if self.how == "last":
            assert self.last is not None
            return self.last
        if self.how == "mean":
            return self.total / self.count  # type: ignore[operator]
        chosen = {"min": self.low, "max": self.high, "sum": self.total}[self.how]
        assert chosen is not None
        return chosen

    def close(self) -> Reading:
        """The open window's reading; the window is then closed and empty."""
        assert self.start is not None and self.end is not None
        reading = trusted_reading(self.stream, self.start, self.value(), self.unit, self.source)
        self.closed_until = self.end
        self.start = self.end = None
        self.count = 0
        self.total = self.low = self.high = self.last = None
        return reading


class Resampler:
    """The resampled routes into one sink's outbox; see the module doc."""

    def __init__(self, outbox: Outbox, credential: Callable[[Reading], str] | None) -> None:
        self.outbox = outbox
        self.credential = credential
        self._lock = threading.Lock()
        self._grids: dict[tuple[int, str], Grid] = {}
        rows: list[tuple[Any, ...]] = []

        def load(db: sqlite3.Connection) -> tuple[list[Reading], list[Refusal]]:
            db.execute(_SCHEMA)
            rows.extend(db.execute(f"SELECT {_COLUMNS} FROM resample"))
            return [], []

        outbox.put_computed(load)
        self._windows = {row[0]: Window(*row) for row in rows}

    @property
    def open_windows(self) -> int:
        """Windows holding readings now."""
        return sum(1 for window in self._windows.values() if window.start is not None)

    def add(self, route: str, spec: Resample, readings: Iterable[Reading]) -> tuple[int, int]:
        """Fold ``readings`` of a route (named ``route``) in, durably; queue the windows
        they close. Returns (windows closed, readings refused)."""
        every_us = to_epoch_us(EPOCH + spec.every)
        grace_us = to_epoch_us(EPOCH + spec.grace)
        with self._lock:
            changed: dict[str, Window] = {}
            closed: list[Reading] = []
            refused: list[Refusal] = []
            for reading in readings:
                key = f"{route}|{reading.source}|{reading.stream}"
                window = changed.get(key)
                if window is None:
                    known = self._windows.get(key)
                    window = (
                        attrs.evolve(known)
                        if known is not None
                        else Window(
                            key,
                            reading.stream,
                            reading.source,
                            reading.unit,
                            spec.how,
                            every_us,
                            spec.zone,
                            grace_us,
                        )
                    )
                    changed[key] = window
                window.grace_us = grace_us  # the route's grace as configured now
                problem = self._fold(window, reading, closed)
                if problem:
                    refused.append((reading, problem))
            self._commit(changed, closed, refused)
        return len(closed), len(refused)

    def close_due(self, now: datetime) -> int:
        """Close every window whose end plus grace has passed; returns how many."""
        at = to_epoch_us(now)
        with self._lock:
            changed: dict[str, Window] = {}
            closed: list[Reading] = []
            for key, known in self._windows.items():
                if known.end is not None and known.end + known.grace_us <= at:
                    window = attrs.evolve(known)
                    closed.append(window.close())
                    changed[key] = window
            if changed:
                self._commit(changed, closed, [])
        return len(closed)

    def _fold(self, window: Window, reading: Reading, closed: list[Reading]) -> str | None:
        """Put one reading in its window (closing the open one if it is later);
        a reason if it cannot be taken."""
        at = reading.epoch_us
        if isinstance(reading.value, str) and window.how != "last":
            return f"text value {reading.value!r} cannot be resampled with how = {window.how!r}"
        if window.start is not None and window.end is not None:
            if at >= window.end:
                closed.append(window.close())
            elif at < window.start:
                return self._late(window, at, window.start)
        if window.closed_until is not None and at < window.closed_until:
            return self._late(window, at, window.closed_until)
        if window.start is None:
            grid = self._grid(window)
            window.start, window.end = grid.window_us(at)
            window.unit = reading.unit
        window.fold(reading.value)
        return None

    def _late(self, window: Window, at: int, since: int) -> str:
        every = format_duration(timedelta(microseconds=window.every_us))
        return (
            f"arrived late: its {every} window (zone {window.zone}) was closed or passed "
            f"at {from_epoch_us(since).isoformat()}, before {from_epoch_us(at).isoformat()} "
            "came; the value sent for it stands"
        )

    def _grid(self, window: Window) -> Grid:
        key = (window.every_us, window.zone)
        grid = self._grids.get(key)
        if grid is None:
            grid = Grid(timedelta(microseconds=window.every_us), zone_named(window.zone))
            self._grids[key] = grid
        return grid

    def _commit(
        self, changed: dict[str, Window], closed: Sequence[Reading], refused: Sequence[Refusal]
    ) -> None:
        """Write the changed windows, queue the closed ones' readings and dead-letter
        the refused, in one durable transaction; then adopt the changes."""

        def write(db: sqlite3.Connection) -> tuple[Sequence[Reading], Sequence[Refusal]]:
            db.executemany(
                f"INSERT OR REPLACE INTO resample ({_COLUMNS}) VALUES ({', '.join('?' * 16)})",
                [window.row() for window in changed.values()],
            )
            return closed, refused

        self.outbox.put_computed(write, self.credential)
        self._windows.update(changed)
