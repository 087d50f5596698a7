"""Text of epoch-microsecond timestamps, for sinks that format many readings.

``datetime.isoformat`` of a reading's timestamp costs more than the rest of its JSON
line; a sink formatting from :class:`~wattbridge.ReadingColumns` has the timestamp as
epoch microseconds anyway. :class:`StampText` writes the same text from the number: the
date from a cache (a batch spans few days) and the time of day from a table of the
86,400 seconds of a day.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date, timedelta
from itertools import product

_DAY_US = 86_400_000_000
_EPOCH_DATE = date(1970, 1, 1)
_DAYS_KEPT = 100_000


@functools.cache
def _clock() -> tuple[str, ...]:
    """``HH:MM:SS`` of every second of a day, by its number (about 5 MB, made once)."""
    hours = [f"{hour:02d}" for hour in range(24)]
    sixty = [f"{number:02d}" for number in range(60)]
    return tuple(map(":".join, product(hours, sixty, sixty)))


class StampText:
    """Formats epoch microseconds (UTC) as ISO 8601 text; keep one per sink."""

    __slots__ = ("_clock", "_days")

    def __init__(self) -> None:
        self._days: dict[int, str] = {}
        self._clock = _clock()

    def _day(self, day: int) -> str:
        text = f"{(_EPOCH_DATE + timedelta(days=day)).isoformat()}T"
        if len(self._days) < _DAYS_KEPT:
            self._days[day] = text
        return text

    def iso(self, epoch_us: int) -> str:
        """What ``datetime.isoformat()`` gives for the UTC datetime of ``epoch_us``:
        ``2026-01-01T00:00:00+00:00``, with ``.ffffff`` when there is a fraction."""
        day, rest = divmod(epoch_us, _DAY_US)
        prefix = self._days.get(day) or self._day(day)
        second, micro = divmod(rest, 1_000_000)
        if micro:
            return f"{prefix}{self._clock[second]}.{micro:06d}+00:00"
        return f"{prefix}{self._clock[second]}+00:00"

    def isos(self, stamps: Iterable[int]) -> list[str]:
        """:meth:`iso` of each stamp of a column: the loop is here, as a call a stamp
        costs as much as the text, and a run of one stamp (a row's streams) is made once."""
        clock = self._clock
        texts: list[str] = []
        append = texts.append
        last: int | None = None
        text = prefix = ""
        day_start = day_end = 0
        for epoch_us in stamps:
            if epoch_us != last:
                if not day_start <= epoch_us < day_end:
                    day = epoch_us // _DAY_US
                    day_start = day * _DAY_US
                    day_end = day_start + _DAY_US
                    prefix = self._days.get(day) or self._day(day)
                rest = epoch_us - day_start
                micro = rest % 1_000_000
                if micro:
                    text = f"{prefix}{clock[rest // 1_000_000]}.{micro:06d}+00:00"
                else:
                    text = f"{prefix}{clock[rest // 1_000_000]}+00:00"
                last = epoch_us
            append(text)
        return texts

    def iso_ms(self, epoch_us: int) -> str:
        """``2026-01-01T00:00:00.000Z``: milliseconds always, the finer part dropped."""
        day, rest = divmod(epoch_us, _DAY_US)
        prefix = self._days.get(day) or self._day(day)
        second, micro = divmod(rest, 1_000_000)
        return f"{prefix}{self._clock[second]}.{micro // 1000:03d}Z"
