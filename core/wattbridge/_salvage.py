"""``wattbridge outbox recover``: what SQLite can still read of a damaged (or deleted and
saved) outbox, copied into a fresh outbox. The damaged file is moved aside, never
deleted: a better tool may read more of it later.

Rows are read one table at a time, oldest first; where a range of rows cannot be read,
each row in it is tried alone, so one bad page costs the rows on it, not the rest.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from wattbridge._outbox import Outbox

_QUEUE = "id, stream, ts, value, unit, source, credential, queued_at, attempts"
_DEAD = "stream, ts, value, unit, source, credential, queued_at, attempts, reason, failed_at"
_CHUNK = 1000


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
        queue = list(_rows(db, "queue", _QUEUE, unreadable))
        dead = list(_rows(db, "deadletter", f"id, {_DEAD}", unreadable))
        states = list(_rows(db, "state", "rowid, key, value", unreadable))
    finally:
        db.close()
    kept = {key: value for _, key, value in states if key not in ("last_id", "probe")}
    into.restore(queue, [row[1:] for row in dead], kept if fresh else {}, keep_ids=fresh)
    return Salvaged(len(queue), len(dead), len(kept) if fresh else 0, unreadable, None)


def _rows(
    db: sqlite3.Connection, table: str, columns: str, unreadable: list[str]
) -> Iterator[tuple[Any, ...]]:
    key = columns.split(",", maxsplit=1)[0]
    try:
        (highest,) = db.execute(f"SELECT MAX({key}) FROM {table}").fetchone()
    except sqlite3.DatabaseError as exc:
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
        except sqlite3.DatabaseError:
            pass
        lost = 0
        for row_id in range(first, last + 1):
            try:
                yield from db.execute(
                    f"SELECT {columns} FROM {table} WHERE {key} = ?", (row_id,)
                ).fetchall()
            except sqlite3.DatabaseError:
                lost += 1
        unreadable.append(f"{table}: {lost} row id(s) between {first} and {last}")


def _highest_by_probe(db: sqlite3.Connection, table: str, key: str) -> int | None:
    """The highest row id, read backwards from the end of the b-tree where MAX() fails."""
    try:
        row = db.execute(f"SELECT {key} FROM {table} ORDER BY {key} DESC LIMIT 1").fetchone()
    except sqlite3.DatabaseError:
        return None
    return int(row[0]) if row else 0
