"""EnergyData.dk's CSV, as its batch-import documentation describes it.

RFC 4180 with ``;`` as delimiter, UTF-8, quotes doubled (never backslash-escaped),
header ``;<id or topic>;...``, timestamps ``YYYY-MM-DDTHH:mm:ss.SSSZ`` in UTC, rows
strictly increasing. An empty field is an empty string for a string datastream and
"no value" for an integer or double one.

This module only converts: writing rows, reading rows, parsing and formatting
timestamps and values. It knows nothing of HTTP or of the outbox. It is the one
reading of the format: the energydata-batch sink and ``wattbridge import``, the
csv-folder source's ``energydata`` format and the demo accept and refuse the same
cells, and the energydata-mqtt sink checks values against the same datastream types.
(The sandbox has a reading of its own, so that it can catch this one's mistakes.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import IO, Literal

from wattbridge import DataError, StampText

StreamType = Literal["string", "integer", "double"]
STREAM_TYPES: tuple[StreamType, ...] = ("string", "integer", "double")

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_NAIVE = datetime(1970, 1, 1)
_MS = timedelta(milliseconds=1)
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

TIMESTAMP_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
_CLOCK = r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?"
_ZONED_RE = re.compile(_CLOCK + r"(Z|[+-]\d{2}:\d{2})", re.ASCII)
_NAIVE_RE = re.compile(_CLOCK, re.ASCII)
INTEGER_RE = re.compile(r"[-+]?\d+")
NUMBER_CHARS = "0123456789.-+eE"
# What the platform's own example shows for doubles (23.4121, -1.33e-16); no nan/inf,
# no underscores or spaces that Python's float() would also take.
DOUBLE_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class ValueMismatch(ValueError):
    """A value does not fit its datastream's type; the message says why."""


# -- timestamps ---------------------------------------------------------------------


def format_ms(epoch_ms: int) -> str:
    """``YYYY-MM-DDTHH:mm:ss.SSSZ`` for milliseconds since the epoch."""
    # isoformat is C code and pads the year to 4 digits: several times faster than
    # strftime, and this runs once a row.
    return (_EPOCH_NAIVE + epoch_ms * _MS).isoformat(timespec="milliseconds") + "Z"


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch for an aware datetime, rounded down (the platform
    keeps milliseconds; the finer part is dropped, never rounded into the next one)."""
    return (moment - EPOCH) // _MS


def parse_timestamp(text: str) -> int:
    """Milliseconds since the epoch of a file's timestamp; ValueError otherwise.

    The platform's own form, ``YYYY-MM-DDTHH:mm:ss.SSSZ``, is read fastest; any other
    instant :func:`parse_moment` takes is read too.
    """
    if TIMESTAMP_RE.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text[:-1])
        except ValueError as exc:
            raise ValueError(f"timestamp {text!r} is not a real date and time: {exc}") from None
        return (moment - _EPOCH_NAIVE) // _MS
    return to_ms(parse_moment(text))


def parse_moment(text: str) -> datetime:
    """The UTC moment of a file's timestamp, to the microsecond; ValueError otherwise.

    Any instant that names its zone is read: the platform's ``...SSSZ``, and ``Z`` or
    an offset such as ``+01:00`` with or without fractions of a second, since what is
    sent is written anew in the platform's form. A time without a zone is refused
    rather than guessed.
    """
    if TIMESTAMP_RE.fullmatch(text) or _ZONED_RE.fullmatch(text):
        try:
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo is UTC else moment.astimezone(UTC)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"timestamp {text!r} is not a real date and time: {exc}") from None
    if _NAIVE_RE.fullmatch(text):
        raise ValueError(f"timestamp {text!r} has no time zone; the import format is UTC (...Z)")
    raise ValueError(f"timestamp {text!r} is not ISO 8601 (YYYY-MM-DDTHH:mm:ss.SSSZ)")


_US = timedelta(microseconds=1)
# The pieces of ``HH:MM:SS.SSSZ`` after the date, each to its microseconds: every key
# is a valid piece, so a lookup that finds all three has checked the time of day.
_MINUTES = {f"{h:02d}:{m:02d}:": (h * 60 + m) * 60_000_000 for h in range(24) for m in range(60)}
_SECONDS = {f"{s:02d}.": s * 1_000_000 for s in range(60)}
_MILLIS = {f"{ms:03d}Z": ms * 1000 for ms in range(1000)}
_DAYS_KEPT = 100_000


class StampReader:
    """Reads a file's timestamps as epoch microseconds (UTC), as :func:`parse_moment`
    reads them (the same text taken, the same refused, the same message), for a reader
    of many rows; keep one per file.

    The platform's own form ``YYYY-MM-DDTHH:mm:ss.SSSZ`` is read by four dictionary
    lookups: the date (with its ``T``) from a cache of dates this reader has seen
    :func:`parse_moment` accept, then the hour and minute, the second and the
    milliseconds from tables of every valid piece. A regular expression and a datetime
    a row cost ten times as much. Anything else goes to :func:`parse_moment`.
    """

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: dict[str, int] = {}

    def epoch_us(self, text: str) -> int:
        """The timestamp's microseconds since the epoch; ValueError as parse_moment."""
        try:
            # The four keys are 11, 6, 3 and 4 characters long: a hit is exactly 24.
            return (
                self._days[text[:11]]
                + _MINUTES[text[11:17]]
                + _SECONDS[text[17:20]]
                + _MILLIS[text[20:]]
            )
        except KeyError:
            pass
        moment = parse_moment(text)
        epoch_us = (moment - EPOCH) // _US
        if TIMESTAMP_RE.fullmatch(text) and len(self._days) < _DAYS_KEPT:
            # Accepted in the platform's form: its date is a real one, in ASCII digits.
            self._days[text[:11]] = epoch_us - epoch_us % 86_400_000_000
        return epoch_us


def parse_instant(text: str) -> int:
    """Milliseconds for an ISO 8601 instant with a zone (``Z`` or ``+01:00``), as the
    fetch API's ``from`` and ``to`` take; a naive one is refused."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise ValueError(f"{text!r} has no time zone; add Z for UTC")
    return to_ms(moment)


# -- values -----------------------------------------------------------------------


def check_value(value: int | float | str, kind: StreamType) -> int | float | str:
    """``value`` as it will be written for a datastream of type ``kind``.

    Raises :class:`ValueMismatch` if it does not fit: a string for a number, a number
    for a string, a fraction or an out-of-range number for an integer.
    """
    if kind == "string":
        if not isinstance(value, str):
            raise ValueMismatch(f"{value!r} is a number but the datastream is of type string")
        return value
    if isinstance(value, str):
        raise ValueMismatch(f"{value!r} is text but the datastream is of type {kind}")
    if kind == "integer":
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueMismatch(f"{value!r} is not a whole number (datastream is integer)")
            value = int(value)
        if not INT64_MIN <= value <= INT64_MAX:
            raise ValueMismatch(f"{value} is outside the 64-bit integer range")
        return value
    if not math.isfinite(value):
        raise ValueMismatch(f"{value!r} is not a finite number")
    return value


def format_value(value: int | float | str) -> str:
    """One field's text: numbers as Python writes them exactly, strings quoted when needed."""
    if isinstance(value, str):
        return quote(value) if value else '""'
    return repr(value)


_NEEDS_QUOTES = re.compile(r'[;"\r\n]')


def quote(text: str) -> str:
    """RFC 4180: a field with ``;``, ``"``, CR or LF is quoted, and its quotes doubled."""
    if _NEEDS_QUOTES.search(text) or text != text.strip(" "):
        return '"' + text.replace('"', '""') + '"'
    return text


def parse_value(text: str, kind: StreamType) -> int | float | str:
    """A non-empty field's value for a datastream of type ``kind``; ValueError if it
    does not fit."""
    if kind == "string":
        return text
    if kind == "integer":
        # isascii: str.isdigit() also takes digits of other scripts, which int() reads.
        digits = text[1:] if text[:1] in "+-" else text
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(f"{text!r} is not an integer")
        number = int(text)
        if not INT64_MIN <= number <= INT64_MAX:
            raise ValueError(f"{text} is outside the 64-bit integer range")
        return number
    # float() first (fast, C); then refuse what it takes but the platform's numbers
    # are not: nan, inf, "1_0", spaces (anything but digits, sign, point, exponent).
    try:
        result = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if text.strip(NUMBER_CHARS):  # non-empty: some other character is in it
        raise ValueError(f"{text!r} is not a number")
    if not math.isfinite(result):
        raise ValueError(f"{text!r} is too large for a double")
    return result


# -- writing ----------------------------------------------------------------------


def write_file(
    handle: IO[str],
    columns: list[str],
    rows: Iterable[tuple[int, Sequence[str]]],
) -> int:
    """Write a header and rows of (epoch ms, already formatted fields); return the rows.

    The caller gives rows in strictly increasing time; fields are "" for no value.
    """
    handle.write(";" + ";".join(quote(c) for c in columns) + "\r\n")
    count = 0
    lines: list[str] = []
    # format_ms's text, several times faster (this runs once a row).
    stamp_ms = StampText().iso_ms
    for epoch_ms, fields in rows:
        lines.append(stamp_ms(epoch_ms * 1000) + ";" + ";".join(fields) + "\r\n")
        count += 1
        if len(lines) >= 10_000:
            handle.write("".join(lines))
            lines = []
    handle.write("".join(lines))
    return count


# -- reading --------------------------------------------------------------------


def iter_records(text: Iterable[str], where: str) -> Iterator[tuple[int, list[str], list[bool]]]:
    """RFC 4180 records of ``;``-separated text given as lines (with their line ends).

    Yields (first line number, fields, which fields were quoted): the quoting matters
    where an empty quoted field (an empty string) differs from an empty one (no value).
    Raises :class:`DataError` naming ``where`` and the line for broken quoting.
    """
    line_number = 0
    lines = iter(text)
    # One shared all-False list per width: most lines quote nothing (callers only read it).
    none_quoted: dict[int, list[bool]] = {}
    for line in lines:
        line_number += 1
        start = line_number
        if '"' not in line:
            # The common case, and the fast one: no quoting anywhere on the line.
            plain = line.rstrip("\r\n").split(";")
            if plain != [""]:
                unquoted = none_quoted.get(len(plain))
                if unquoted is None:
                    unquoted = none_quoted[len(plain)] = [False] * len(plain)
                yield start, plain, unquoted
            continue
        fields: list[str] = []
        quoted: list[bool] = []
        pos = 0
        current = line
        while True:
            if current.startswith('"', pos):
                # A quoted field: it may span lines; "" inside is one quote.
                parts: list[str] = []
                pos += 1
                while True:
                    end = current.find('"', pos)
                    if end < 0:
                        parts.append(current[pos:])
                        nxt = next(lines, None)
                        if nxt is None:
                            raise DataError(f"{where}:{start}", "a quoted field is never closed")
                        line_number += 1
                        current, pos = nxt, 0
                        continue
                    if current.startswith('"', end + 1):
                        parts.append(current[pos : end + 1])
                        pos = end + 2
                        continue
                    parts.append(current[pos:end])
                    pos = end + 1
                    break
                fields.append("".join(parts))
                quoted.append(True)
                rest = current[pos:]
                if rest.startswith(";"):
                    pos += 1
                    continue
                if rest in ("", "\n", "\r\n", "\r"):
                    break
                raise DataError(
                    f"{where}:{line_number}",
                    f"text after a closing quote ({rest[:20].rstrip()!r}); "
                    'a quote inside a field is written "" (RFC 4180), not \\"',
                )
            end = current.find(";", pos)
            if end < 0:
                field = current[pos:].rstrip("\r\n")
                last = True
            else:
                field = current[pos:end]
                last = False
            if '"' in field:
                raise DataError(
                    f"{where}:{line_number}",
                    f"a quote inside an unquoted field ({field[:30]!r}); quote the whole field",
                )
            fields.append(field)
            quoted.append(False)
            if last:
                break
            pos = end + 1
        if fields == [""] and not quoted[0]:
            continue  # a blank line (e.g. the file's last line end)
        yield start, fields, quoted


def parse_header(fields: list[str], where: str) -> list[str]:
    """The datastream columns of a header ``;<id or topic>;...``."""
    if len(fields) < 2 or fields[0] != "":
        raise DataError(where, "the header must be ;<id or topic>;... (first field empty)")
    columns = fields[1:]
    seen: set[str] = set()
    for column in columns:
        if not column.strip():
            raise DataError(where, "a header field is empty; name a datastream id or topic")
        if column in seen:
            raise DataError(where, f"datastream {column!r} appears twice in the header")
        seen.add(column)
    return columns
