"""The batch-import file format as the platform's text states it, read by the sandbox.

Written from the platform's documentation alone, never from the sink's own CSV code,
so that the sandbox refuses what the platform would even where the sink is wrong:

- "formatted as CSV according to RFC4180", with ``;`` between fields (the text's
  example file); a quote inside a quoted field is doubled (RFC 4180, 2.7); any field
  may be quoted, and quoting carries no meaning (RFC 4180, 2.5): the platform's own
  client quotes its header, its timestamps and its strings;
- "encoded as UTF-8";
- the header is ``;<datastream id or topic>;...``: the first field, the timestamp's
  column, is empty;
- timestamps are "YYYY-MM-DD[T]HH:mm:ss.SSS[Z] ... in UTC timezone"; the platform's
  own client writes them with ``%f``, six fractional digits, so 1 to 6 are read and
  the milliseconds taken from them (digits below a millisecond are dropped, as a
  millisecond store must);
- a value's type matches its datastream's (string, integer or double); "if a field is
  left empty", a string datastream gets an empty string, a number none.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Literal

import attrs

StreamType = Literal["string", "integer", "double"]
STREAM_TYPES: tuple[StreamType, ...] = ("string", "integer", "double")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{1,6})Z", re.ASCII)
_NAIVE = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?", re.ASCII)
_INTEGER = re.compile(r"[-+]?[0-9]+", re.ASCII)
_DOUBLE = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?", re.ASCII)
_INT64 = 2**63
_INSTANT = re.compile(
    r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)(Z|z|[+-]\d{2}:\d{2})?", re.ASCII
)
_LINE_ENDS = ("", "\n", "\r\n", "\r")


class FileError(ValueError):
    """A broken file: ``line`` says where (the physical line a record starts on)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@attrs.frozen
class Record:
    """One CSV record: the line it starts on, its fields, and which were quoted."""

    line: int
    fields: list[str]
    quoted: list[bool]


def records(lines: Iterable[str]) -> Iterator[Record]:
    """The RFC 4180 records of ``;``-separated text given line by line (line ends kept).

    A quoted field may hold ``;``, line breaks and doubled quotes; anything after its
    closing quote but ``;`` or the line's end, and a quote inside an unquoted field,
    are errors (:class:`FileError`). Blank lines hold no record.
    """
    fields: list[str] = []
    quoted: list[bool] = []
    field: list[str] = []
    in_quotes = was_quoted = False
    start = 0
    for number, text in enumerate(lines, start=1):
        if not in_quotes:
            start = number
        index = 0
        while index < len(text):
            char = text[index]
            if in_quotes:
                if char != '"':
                    field.append(char)  # line breaks too: the field goes on
                elif text.startswith('"', index + 1):
                    field.append('"')
                    index += 1
                else:
                    in_quotes = False
                    after = text[index + 1 :]
                    if not after.startswith(";") and after not in _LINE_ENDS:
                        raise FileError(
                            number,
                            f"text after a closing quote ({after[:20].rstrip()!r}); a quote "
                            'inside a field is written "" (RFC 4180), not \\"',
                        )
            elif text[index:] in _LINE_ENDS:
                break  # the record's end
            elif char == ";":
                fields.append("".join(field))
                quoted.append(was_quoted)
                field, was_quoted = [], False
            elif char == '"':
                if field:
                    raise FileError(
                        number, "a quote inside an unquoted field; quote the whole field"
                    )
                in_quotes = was_quoted = True
            else:
                field.append(char)
            index += 1
        if in_quotes:
            continue
        fields.append("".join(field))
        quoted.append(was_quoted)
        if fields != [""] or quoted != [False]:
            yield Record(start, fields, quoted)
        fields, quoted, field, was_quoted = [], [], [], False
    if in_quotes:
        raise FileError(start, "a quoted field is never closed")


def header(fields: list[str]) -> list[str]:
    """The datastream names of a header record; ValueError if it is not one."""
    if len(fields) < 2 or fields[0] != "":
        raise ValueError("the header must be ;<id or topic>;... (first field empty)")
    names = fields[1:]
    for position, name in enumerate(names):
        if not name.strip():
            raise ValueError("a header field is empty; name a datastream id or topic")
        if name in names[:position]:
            raise ValueError(f"datastream {name!r} appears twice in the header")
    return names


def timestamp(text: str) -> int:
    """Milliseconds since the epoch of a ``YYYY-MM-DDTHH:mm:ss.SSSZ`` field (1 to 6
    fractional digits; below a millisecond dropped)."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        if _NAIVE.fullmatch(text):
            raise ValueError(f"timestamp {text!r} has no time zone; it must be UTC, ending in Z")
        raise ValueError(
            f"timestamp {text!r} is not YYYY-MM-DDTHH:mm:ss.SSSZ (1 to 6 fractional digits)"
        )
    *clock, fraction = match.groups()
    year, month, day, hour, minute, second = (int(g) for g in clock)
    millis = int(fraction.ljust(6, "0")) // 1000
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise ValueError(f"timestamp {text!r} is not a real date and time: {exc}") from None
    return (moment - _EPOCH) // timedelta(milliseconds=1) + millis


def value(text: str, kind: StreamType) -> int | float | str:
    """A non-empty field's value for a datastream of type ``kind``; ValueError if the
    field is not of that type."""
    if kind == "string":
        return text
    if kind == "integer":
        if not _INTEGER.fullmatch(text):
            raise ValueError(f"{text!r} is not an integer")
        number = int(text)
        if not -_INT64 <= number < _INT64:
            raise ValueError(f"{text} is outside the 64-bit integer range")
        return number
    if not _DOUBLE.fullmatch(text):
        raise ValueError(f"{text!r} is not a number")
    result = float(text)
    if not math.isfinite(result):
        raise ValueError(f"{text!r} is too large for a double")
    return result


def format_ms(epoch_ms: int) -> str:
    """The platform's timestamp, ``YYYY-MM-DDTHH:mm:ss.SSSZ``, of epoch milliseconds."""
    moment = _EPOCH + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def instant(text: str) -> int:
    """Milliseconds of the fetch API's ``from`` and ``to``: ISO 8601 with a zone."""
    match = _INSTANT.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not an ISO 8601 time")
    clock, zone = match.groups()
    if zone is None:
        raise ValueError(f"{text!r} has no time zone; add Z for UTC")
    try:
        moment = datetime.fromisoformat(clock + ("+00:00" if zone in "Zz" else zone))
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def quoted_field(text: str) -> str:
    """A field as RFC 4180 writes it: quoted, quotes doubled, when it needs to be."""
    if any(c in text for c in ';"\r\n') or text != text.strip(" "):
        return '"' + text.replace('"', '""') + '"'
    return text
