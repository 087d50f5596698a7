"""Cells to values: numbers (decimal comma, thousands separators) and timestamps (ISO,
epoch, strptime patterns; local time with DST's repeated and missing hours handled as
configured). Each parser raises :class:`RowProblem` with a message for the error report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig

if TYPE_CHECKING:
    from wattbridge_plugins.sources.csv_folder.localtimes import LocalTimes

Number = int | float

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
INT64 = 1 << 63
"""Integers must fit 64 bits signed: the outboxes (SQLite) cannot store larger ones."""


TimestampParser = Callable[[str, str], datetime]
"""(a timestamp cell's text, the row's key) -> the UTC instant; raises RowProblem."""


class RowProblem(ValueError):
    """A row cannot be imported; the message says which cell and why."""


def number_parser(config: CsvFolderConfig) -> Callable[[str], Number]:
    """A function from a cell's text to an int or a finite float, per the config's
    decimal mark and thousands separator. An empty cell is the caller's business."""
    decimal_comma = config.decimal == ","
    thousands = config.thousands

    def parse(text: str) -> Number:
        # int() and float() skip surrounding blanks themselves, but they also read
        # 1_000, which no meter export means: refuse underscores first.
        if "_" in text:
            raise RowProblem(f"{text!r} is not a number")
        cleaned = text
        if thousands:
            cleaned = cleaned.replace(thousands, "")
        if decimal_comma:
            if "." in cleaned:
                raise RowProblem(f"{text!r} is not a number with a decimal comma")
            cleaned = cleaned.replace(",", ".")
        if "." not in cleaned:
            # Without a decimal point it may be an integer: keep it one (an integer
            # datastream must get integers).
            try:
                value = int(cleaned)
            except ValueError:
                pass
            else:
                if not -INT64 <= value < INT64:
                    raise RowProblem(f"{text!r} is out of range (64-bit integers only)")
                return value
        try:
            number = float(cleaned)
        except ValueError:
            raise RowProblem(f"{text!r} is not a number") from None
        if not math.isfinite(number):
            raise RowProblem(f"{text!r} is not a finite number")
        return number

    return parse


def epoch_us(moment: datetime) -> int:
    """Whole microseconds since the epoch of an aware time (what a cell holds)."""
    return (moment - EPOCH) // MICROSECOND


def from_epoch_us(stamp: int) -> datetime:
    """The UTC time of :func:`epoch_us`'s number."""
    return EPOCH + stamp * MICROSECOND


def to_utc(moment: datetime, text: str) -> datetime:
    """An aware time in UTC; one too near year 1 or 9999 to convert is a bad row."""
    if moment.tzinfo is UTC:
        return moment
    try:
        return moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise RowProblem(f"timestamp {text!r} is out of range") from None


ORDINARY, REPEATED, SKIPPED = "ordinary", "repeated", "skipped"


def wall_clock(naive: datetime, zone: tzinfo) -> tuple[datetime, datetime, str]:
    """The two readings of a wall-clock time in ``zone`` (PEP 495's fold 0 and 1) and
    what the time is: ``ORDINARY`` (both the same), ``REPEATED`` (in the hour that
    repeats when DST ends: fold 0 is the first, summer-time instant) or ``SKIPPED`` (in
    the hour skipped when DST starts: fold 0 uses the offset from before the jump)."""
    early = naive.replace(tzinfo=zone, fold=0)
    late = naive.replace(tzinfo=zone, fold=1)
    early_offset = early.utcoffset()
    late_offset = late.utcoffset()
    assert early_offset is not None and late_offset is not None
    if early_offset == late_offset:
        return early, late, ORDINARY
    return early, late, REPEATED if early_offset > late_offset else SKIPPED


def resolve(
    early: datetime, late: datetime, kind: str, ambiguous: str, nonexistent: str, text: str
) -> datetime:
    """The UTC instant of a wall-clock time read by :func:`wall_clock`, its DST edge
    decided by ``ambiguous`` ("earlier", "later" or "error"; "infer" is decided by
    :mod:`..localtimes`) or ``nonexistent`` ("shift" or "error")."""
    # Converted to UTC here: PEP 495 makes an aware time in a fold compare unequal to
    # every instant of another zone, so it must not travel on as local time.
    if kind == ORDINARY:
        return to_utc(early, text)
    if kind == REPEATED:
        if ambiguous == "earlier":
            return to_utc(early, text)
        if ambiguous == "later":
            return to_utc(late, text)
        raise RowProblem(
            f"timestamp {text!r} is ambiguous in {early.tzinfo} (the hour repeats when "
            'daylight saving time ends); set ambiguous = "infer" (the file\'s order tells), '
            '"earlier" or "later"'
        )
    if nonexistent == "shift":
        return to_utc(early, text)
    raise RowProblem(
        f"timestamp {text!r} does not exist in {early.tzinfo} (the hour is skipped when "
        'daylight saving time starts); set nonexistent = "shift" to move it forward'
    )


def localize(
    naive: datetime, zone: tzinfo, ambiguous: str, nonexistent: str, text: str
) -> datetime:
    """Give a wall-clock time its zone, resolving DST's edge hours explicitly.

    In the hour that repeats when DST ends, ``ambiguous`` picks the "earlier" (summer
    time) or the "later" (standard time) instant, or "error" refuses it. In the hour
    that is skipped when DST starts, ``nonexistent`` "shift" moves the time forward by
    the gap (02:30 becomes 03:30 summer time: what a clock that was not moved on meant),
    or "error" refuses it.
    """
    if zone is UTC:
        return naive.replace(tzinfo=UTC)
    return resolve(*wall_clock(naive, zone), ambiguous, nonexistent, text)


def timestamp_parser(config: CsvFolderConfig, times: LocalTimes) -> TimestampParser:
    """A function from a cell's text (and the row's key, see :mod:`..localtimes`) to an
    aware datetime in UTC, per the config's ``timestamp_format``; a time without an
    offset is local time of ``times``' zone, its DST edges decided by ``times``."""
    fmt = config.timestamp_format

    def aware(moment: datetime, text: str, key: str) -> datetime:
        if moment.tzinfo is not None and moment.utcoffset() is not None:
            return to_utc(moment, text)
        return times.localize(moment, key, text)

    if fmt == "iso":

        def parse_iso(text: str, key: str) -> datetime:
            try:
                moment = datetime.fromisoformat(text.strip())
            except ValueError:
                raise RowProblem(f"timestamp {text!r} is not ISO 8601") from None
            return aware(moment, text, key)

        return parse_iso

    if fmt in ("epoch_s", "epoch_ms"):
        unit = timedelta(seconds=1) if fmt == "epoch_s" else timedelta(milliseconds=1)

        def parse_epoch(text: str, _key: str) -> datetime:
            cleaned = text.strip()
            try:
                amount: Number = int(cleaned)
            except ValueError:
                try:
                    amount = float(cleaned)
                except ValueError:
                    raise RowProblem(f"timestamp {text!r} is not a number ({fmt})") from None
            try:
                return EPOCH + amount * unit
            except (OverflowError, ValueError):
                raise RowProblem(f"timestamp {text!r} is out of range ({fmt})") from None

        return parse_epoch

    def parse_pattern(text: str, key: str) -> datetime:
        try:
            moment = datetime.strptime(text.strip(), fmt)
        except ValueError:
            raise RowProblem(f"timestamp {text!r} does not match {fmt!r}") from None
        return aware(moment, text, key)

    return parse_pattern
