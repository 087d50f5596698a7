"""A segment: the readings of one large put, stored in the outbox as one row.

One SQLite row per reading is half the cost of a bulk import (issue 17); a segment
holds the readings' columns packed in one blob, with a checksum, and the offsets within
it that have left the queue (acknowledged or dead-lettered), so a partial ack, a dead
letter of one reading and crash recovery still work per reading.

The columns are packed with :mod:`marshal` (format version 4, which every Python since
3.4 reads and writes): it keeps int, float and str values apart as they were put, and
dumps or loads five columns of 20,000 readings in under 3 ms here, about ten times
faster than json and a little faster than pickle, which could run code on load.
marshal trusts its input, so a blob is loaded only after its CRC-32 matches the one
stored beside it; the file is the outbox's own, private to its user.
"""

from __future__ import annotations

import marshal
import zlib
from bisect import bisect_right
from collections.abc import Iterator
from itertools import islice
from typing import Any

from wattbridge._readings import Reading, trusted_reading

SEGMENT_MIN = 64
"""Readings of one credential in one put from which they are stored as a segment;
fewer (a Modbus poll, an MQTT message) are stored one row a reading, as before."""

_MARSHAL_VERSION = 4

Ranges = list[tuple[int, int]]
"""Sorted, disjoint, non-adjacent (first, last) runs of offsets, both ends included."""


class SegmentDamaged(ValueError):
    """A segment whose blob does not match its checksum (or does not load)."""


Columns = tuple[list[str], list[int], list[Any], list[str], list[str]]
"""A segment's columns: streams, epoch microseconds, values, units, sources."""


def pack(columns: Columns) -> tuple[bytes, int]:
    """The readings' columns as one blob, and its CRC-32."""
    blob = marshal.dumps(columns, _MARSHAL_VERSION)
    return blob, zlib.crc32(blob)


def unpack(blob: bytes, checksum: int, count: int) -> Columns:
    """The columns of a segment of ``count`` readings; :class:`SegmentDamaged` if the
    blob does not match ``checksum`` or is not ``count`` readings' columns."""
    check(blob, checksum)
    try:
        columns = marshal.loads(blob)
    except (ValueError, EOFError, TypeError) as exc:  # pragma: no cover - checksum passed
        raise SegmentDamaged(f"its data does not load: {exc}") from None
    if not (
        isinstance(columns, tuple)
        and len(columns) == 5
        and all(isinstance(column, list) and len(column) == count for column in columns)
    ):
        raise SegmentDamaged("its data is not the columns of its readings")
    return columns


def check(blob: bytes, checksum: int) -> None:
    """:class:`SegmentDamaged` unless ``blob`` matches ``checksum``."""
    if zlib.crc32(blob) != checksum:
        raise SegmentDamaged("its checksum does not match its data")


def reading_at(columns: Columns, offset: int) -> Reading:
    """The reading at ``offset`` of unpacked columns (validated when it was put)."""
    streams, stamps, values, units, sources = columns
    return trusted_reading(
        streams[offset], stamps[offset], values[offset], units[offset], sources[offset]
    )


def pack_ranges(ranges: Ranges) -> bytes:
    """Offset runs as stored in the ``done`` column."""
    return marshal.dumps([end for run in ranges for end in run], _MARSHAL_VERSION)


def unpack_ranges(blob: bytes, count: int) -> Ranges:
    """The ``done`` column's runs; :class:`SegmentDamaged` unless they are sorted runs
    within a segment of ``count`` readings."""
    try:
        flat = marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        raise SegmentDamaged("its acknowledged offsets do not load") from None
    if not isinstance(flat, list) or len(flat) % 2:
        raise SegmentDamaged("its acknowledged offsets are not runs")
    ranges = list(zip(flat[::2], flat[1::2], strict=True))
    previous = -2
    for first, last in ranges:
        if not (type(first) is int and type(last) is int and previous + 1 < first <= last < count):
            raise SegmentDamaged("its acknowledged offsets are out of order or range")
        previous = last
    return ranges


def merge_ranges(done: Ranges, more: Ranges) -> tuple[Ranges, int]:
    """``done`` with ``more`` added, and how many offsets were not in ``done`` before."""
    merged: Ranges = []
    for first, last in sorted(done + more):
        if merged and first <= merged[-1][1] + 1:
            if last > merged[-1][1]:
                merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return merged, covered(merged) - covered(done)


def covered(ranges: Ranges) -> int:
    """How many offsets ``ranges`` hold."""
    return sum(last - first + 1 for first, last in ranges)


def queued_offsets(count: int, done: Ranges) -> Iterator[int]:
    """The offsets of a segment of ``count`` readings not in ``done``, in order."""
    for start, end in queued_runs(count, done):
        yield from range(start, end)


def queued_runs(count: int, done: Ranges) -> Iterator[tuple[int, int]]:
    """The runs of offsets not in ``done`` of a segment of ``count`` readings, as
    (start, end) with ``end`` excluded, in order."""
    start = 0
    for first, last in done:
        if start < first:
            yield start, first
        start = last + 1
    if start < count:
        yield start, count


def first_queued(count: int, done: Ranges) -> int | None:
    """The lowest offset not in ``done``, or None when every one is."""
    return next(islice(queued_offsets(count, done), 1), None)


def clip(ranges: Ranges, first_id: int, count: int) -> Ranges:
    """The parts of id ``ranges`` inside the segment at ``first_id``, as offsets."""
    clipped = []
    for first, last in ranges:
        low = max(first, first_id) - first_id
        high = min(last, first_id + count - 1) - first_id
        if low <= high:
            clipped.append((low, high))
    return clipped


def unpack_attempts(blob: bytes | None, count: int) -> list[int]:
    """Failed attempts per offset (the ``attempts`` column; NULL while there were none)."""
    if blob is None:
        return [0] * count
    try:
        attempts = marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        raise SegmentDamaged("its attempt counts do not load") from None
    if not isinstance(attempts, list) or len(attempts) != count:
        raise SegmentDamaged("its attempt counts are not one a reading")
    return attempts


def pack_attempts(attempts: list[int]) -> bytes:
    """Attempts per offset as stored in the ``attempts`` column."""
    return marshal.dumps(attempts, _MARSHAL_VERSION)


def contains(ranges: Ranges, offset: int) -> bool:
    """True when ``offset`` is in one of ``ranges``."""
    index = bisect_right(ranges, (offset, _END)) - 1
    return index >= 0 and ranges[index][0] <= offset <= ranges[index][1]


_END = 2**63
