"""The wall clock's grid: poll instants and resampling windows aligned to it.

A polled source with an interval of 15m runs at :00, :15, :30 and :45, and one of 10s
at :00, :10, ... (as Telegraf's ``round_interval``): :func:`next_tick` and
:func:`tick_at_or_before` give those instants, counted from the Unix epoch in UTC.

A resampling :class:`Grid` cuts time into windows of ``every`` aligned to the wall
clock of a zone: with ``Europe/Copenhagen`` and ``1d`` a window is a Danish day, 23,
24 or 25 hours long; with ``1h`` the repeated hour in October is two windows. A window
starts wherever the zone's wall clock reaches a multiple of ``every`` since local
midnight, and also where a daylight-saving change skips over such a time or goes back
across one. Every instant is in exactly one window ``[start, end)``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from wattbridge._readings import EPOCH, from_epoch_us, to_epoch_us

_US = 1_000_000
_DAY_US = 86_400 * _US
_SEARCH_US = _DAY_US + 3_600 * _US
"""How far a window's ends are looked for around an instant: a day (the longest
``every``) and the largest shift a daylight-saving change makes."""


def next_tick(now: datetime, interval: timedelta) -> datetime:
    """The first instant after ``now`` that is a whole number of ``interval`` since the
    epoch (UTC): the next poll of a source on the wall clock's grid."""
    step = to_epoch_us(EPOCH + interval)
    return from_epoch_us((to_epoch_us(now) // step + 1) * step)


def tick_at_or_before(now: datetime, interval: timedelta) -> datetime:
    """The last grid instant at or before ``now``: the poll ``now`` belongs to."""
    step = to_epoch_us(EPOCH + interval)
    return from_epoch_us(to_epoch_us(now) // step * step)


def zone_named(name: str) -> tzinfo:
    """The zone called ``name`` (``UTC`` or an IANA name); ValueError if there is none."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ValueError, LookupError):
        raise ValueError(
            f"{name!r} is not a known time zone; write UTC or an IANA name "
            "such as 'Europe/Copenhagen'"
        ) from None


def check_every(every: timedelta) -> None:
    """Refuse a window length that does not fit a day whole (ValueError says why)."""
    every_us = to_epoch_us(EPOCH + every)
    if every_us < _US or every_us % _US:
        raise ValueError(f"every must be whole seconds, at least 1s, not {every}")
    if _DAY_US % every_us:
        raise ValueError(
            f"every must divide a day evenly (1m, 5m, 15m, 1h, 6h, 1d ...), not {every}: "
            "otherwise windows could not start at the same times every day"
        )


class Grid:
    """Windows of ``every`` (a whole number of seconds dividing a day) aligned to the
    wall clock of ``zone``; see the module doc."""

    def __init__(self, every: timedelta, zone: tzinfo = UTC) -> None:
        check_every(every)
        self.every = every
        self.zone = zone
        self._every_us = to_epoch_us(EPOCH + every)

    def window(self, instant: datetime) -> tuple[datetime, datetime]:
        """The window ``[start, end)`` that holds ``instant``."""
        start, end = self.window_us(to_epoch_us(instant))
        return from_epoch_us(start), from_epoch_us(end)

    def window_us(self, at: int) -> tuple[int, int]:
        """:meth:`window` in whole microseconds since the epoch."""
        return self._start(at), self._end(at)

    # -- the arithmetic ----------------------------------------------------------

    def _offset(self, at: int) -> int:
        """The zone's UTC offset at ``at``, in microseconds."""
        offset = from_epoch_us(at).astimezone(self.zone).utcoffset()
        return to_epoch_us(EPOCH + offset) if offset else 0

    def _change_in(self, low: int, high: int) -> int | None:
        """The first instant in ``(low, high]`` where the offset differs from ``low``'s.

        Assumes at most one change in the span (a zone changes twice a year at most
        within any day and an hour), found by bisection.
        """
        before = self._offset(low)
        if self._offset(high) == before:
            return None
        while high - low > 1:
            middle = (low + high) // 2
            if self._offset(middle) == before:
                low = middle
            else:
                high = middle
        return high

    def _starts_window(self, change: int) -> bool:
        """Whether the offset change at ``change`` starts a window: the wall clock
        jumps over a grid time (forward) or back across one."""
        was = change + self._offset(change - 1)  # the wall time it approached
        now = change + self._offset(change)
        low, high = (was, now) if now > was else (now, was - 1)
        # Is there a multiple of every in [low, high] (local wall time in µs)?
        return -(-low // self._every_us) * self._every_us <= high

    def _start(self, at: int) -> int:
        while True:
            change = self._change_in(at - _SEARCH_US, at)
            wall = at + self._offset(at)
            start = at - wall % self._every_us
            if change is None or start >= change:
                return start
            if self._starts_window(change):
                return change
            at = change - 1

    def _end(self, at: int) -> int:
        while True:
            change = self._change_in(at, at + _SEARCH_US)
            wall = at + self._offset(at)
            end = at + self._every_us - wall % self._every_us
            if change is None or end < change:
                return end
            if self._starts_window(change):
                return change
            at = change
