"""``wattbridge outbox recover``: what SQLite can still read of a damaged (or deleted and
saved) outbox, copied into a fresh outbox. The damaged file is moved aside, never
deleted: a better tool may read more of it later.

Rows are read one table at a time, oldest first; where a range of rows cannot be read,
each row in it is tried alone, so one bad page costs the rows on it, not the rest.
SQLite keeps no checksums, so a damaged page may also read as rows that are not what
was written: every row is checked again as a reading is at the edge (a stream, a
timestamp in range, a finite value, text where text belongs), and one that fails is
counted as unreadable, never queued. A segment (the readings of one large put in one
row) carries a checksum of its own: one that does not match is counted as unreadable
whole, and its readings that were still queued are salvaged as rows otherwise.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from wattbridge._outbox import Outbox
from wattbridge._readings import Reading, from_epoch_us
from wattbridge._segment import (
    SegmentDamaged,
    queued_offsets,
    unpack,
    unpack_attempts,
    unpack_ranges,
)

_QUEUE = "id, stream, ts, value, unit, source, credential, queued_at, attempts"
_SEGMENT = "first_id, count, credential, queued_at, attempts, done, checksum, columns"
_DEAD = "stream, ts, value, unit, source, credential, queued_at, attempts, reason, failed_at"
_CHUNK = 1000
_UNREADABLE = (sqlite3.DatabaseError, ValueError)
"""What reading a damaged page raises: SQLite's errors, and text that is not UTF-8."""


@attrs.frozen
class Salvaged:
    """What a recovery copied, and what it could not read."""

    queued: int
    dead_letters: int
    states: int
    unreadable: list[str]
    """What could not be read: a table, or ranges of row ids."""
    kept_aside: Path | None
    """Where the damaged file now is (None when it was read where it lay)."""


def move_aside(path: Path) -> Path:
    """Move an outbox file (with its -wal and -shm) to ``<name>.damaged-<time>``; returns
    the new path of the main file."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            source.rename(Path(f"{target}{suffix}"))
    return target


def salvage(damaged: Path, into: Outbox, *, fresh: bool) -> Salvaged:
    """Copy what can be read of the outbox file ``damaged`` into ``into``: queued
    readings (in their order), dead letters, and, into a ``fresh`` outbox, the state and
    the readings' ids (a sink's stored progress names its batch by them); into one in
    use, the readings are queued behind its own, and its state is kept."""
    unreadable: list[str] = []
    db = sqlite3.connect(damaged, isolation_level=None)
    try:
        queue = _checked(_rows(db, "queue", _QUEUE, unreadable), _queue_row, "queue", unreadable)
        if _has_table(db, "segment", unreadable):
            segments = _segment_rows(_rows(db, "segment", _SEGMENT, unreadable), unreadable)
            in_segments = _checked(iter(segments), _queue_row, "segment", unreadable)
            queue = sorted(queue + in_segments, key=lambda row: row[0])
        dead = _checked(
            _rows(db, "deadletter", f"id, {_DEAD}", unreadable), _dead_row, "deadletter", unreadable
        )
        states = _checked(
            _rows(db, "state", "rowid, key, value", unreadable), _state_row, "state", unreadable
        )
    finally:
        db.close()
    queue = _unique_ids(queue, unreadable)
    kept = {key: value for _, key, value in states if key not in ("last_id", "probe")}
    into.restore(queue, [row[1:] for row in dead], kept if fresh else {}, keep_ids=fresh)
    return Salvaged(len(queue), len(dead), len(kept) if fresh else 0, unreadable, None)


def _has_table(db: sqlite3.Connection, table: str, unreadable: list[str]) -> bool:
    """True when the file has ``table`` (an outbox made before segments has none)."""
    try:
        return (
            db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            is not None
        )
    except _UNREADABLE as exc:
        unreadable.append(f"{table}: {exc}")
        return False


def _segment_rows(
    segments: Iterator[tuple[Any, ...]], unreadable: list[str]
) -> list[tuple[Any, ...]]:
    """The queued readings of readable segments, as queue rows; a segment whose checksum
    does not match (or that is not a segment) is counted in ``unreadable``."""
    rows: list[tuple[Any, ...]] = []
    for segment in segments:
        first_id, count, credential, queued_at, attempts, done, checksum, blob = segment
        try:
            if not (isinstance(first_id, int) and isinstance(count, int) and count > 0):
                raise SegmentDamaged("its ids are not a range")
            if not isinstance(blob, bytes) or not isinstance(checksum, int):
                raise SegmentDamaged("its data is not a blob with a checksum")
            columns = unpack(blob, checksum, count)
            gone = unpack_ranges(done, count)
            tries = unpack_attempts(attempts, count)
        except (SegmentDamaged, TypeError) as exc:
            unreadable.append(f"segment of ids from {first_id!r}: {exc}")
            continue
        streams, stamps, values, units, sources = columns
        rows.extend(
            (first_id + i, streams[i], stamps[i], values[i], units[i], sources[i], credential,
             queued_at, tries[i])
            for i in queued_offsets(count, gone)
        )  # fmt: skip
    return rows


def _checked(
    rows: Iterator[tuple[Any, ...]],
    check: Callable[[tuple[Any, ...]], None],
    table: str,
    unreadable: list[str],
) -> list[tuple[Any, ...]]:
    """The rows that pass ``check``; the others counted in ``unreadable``."""
    good = []
    bad = 0
    for row in rows:
        try:
            check(row)
        except (ValueError, TypeError, OverflowError):
            bad += 1
            continue
        good.append(row)
    if bad:
        unreadable.append(f"{table}: {bad} row(s) read as nonsense (a damaged page)")
    return good


def _unique_ids(rows: list[tuple[Any, ...]], unreadable: list[str]) -> list[tuple[Any, ...]]:
    """The rows with an id not seen before (a damaged b-tree may give one id twice)."""
    seen: set[int] = set()
    unique = []
    for row in rows:
        if row[0] not in seen:
            seen.add(row[0])
            unique.append(row)
    if len(unique) < len(rows):
        unreadable.append(f"queue: {len(rows) - len(unique)} row(s) with an id seen before")
    return unique


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"not text: {value!r}")
    return value


def _integer(value: Any) -> int:
    if not isinstance(value, int):
        raise TypeError(f"not an integer: {value!r}")
    return value


def _reading(stream: Any, ts: Any, value: Any, unit: Any, source: Any) -> None:
    Reading(_text(stream), from_epoch_us(_integer(ts)), value, _text(unit), _text(source))


def _queue_row(row: tuple[Any, ...]) -> None:
    row_id, stream, ts, value, unit, source, credential, queued_at, attempts = row
    _integer(row_id)
    _reading(stream, ts, value, unit, source)
    _text(credential)
    float(queued_at)
    _integer(attempts)


def _dead_row(row: tuple[Any, ...]) -> None:
    _, stream, ts, value, unit, source, credential, queued_at, attempts, reason, failed_at = row
    _reading(stream, ts, value, unit, source)
    for text in (credential, reason):
        _text(text)
    for number in (queued_at, failed_at):
        float(number)
    _integer(attempts)


def _state_row(row: tuple[Any, ...]) -> None:
    _, key, value = row
    _text(key)
    _text(value)


def _rows(
    db: sqlite3.Connection, table: str, columns: str, unreadable: list[str]
) -> Iterator[tuple[Any, ...]]:
    key = columns.split(",", maxsplit=1)[0]
    try:
        (highest,) = db.execute(f"SELECT MAX({key}) FROM {table}").fetchone()
    except _UNREADABLE as exc:
        highest = _highest_by_probe(db, table, key)
        if highest is None:
            unreadable.append(f"{table}: {exc}")
            return
    last = 0
    while highest is not None and last < highest:
        first = last + 1
        last = min(first + _CHUNK - 1, highest)
        query = f"SELECT {columns} FROM {table} WHERE {key} BETWEEN ? AND ? ORDER BY {key}"
        try:
            yield from db.execute(query, (first, last)).fetchall()
            continue
        except _UNREADABLE:
            pass
        lost = 0
        for row_id in range(first, last + 1):
            try:
                yield from db.execute(
                    f"SELECT {columns} FROM {table} WHERE {key} = ?", (row_id,)
                ).fetchall()
            except _UNREADABLE:
                lost += 1
        unreadable.append(f"{table}: {lost} row id(s) between {first} and {last}")


def _highest_by_probe(db: sqlite3.Connection, table: str, key: str) -> int | None:
    """The highest row id, read backwards from the end of the b-tree where MAX() fails."""
    try:
        row = db.execute(f"SELECT {key} FROM {table} ORDER BY {key} DESC LIMIT 1").fetchone()
    except _UNREADABLE:
        return None
    return int(row[0]) if row else 0
