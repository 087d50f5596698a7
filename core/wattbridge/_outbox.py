"""The durable queue of one sink: SQLite in WAL mode, one file per sink.

Readings are put in batches (one transaction) and taken oldest first; they leave the
queue only when the sink acknowledges them, or move to the dead-letter table with the
platform's reason. A small put is stored one row a reading (the ``queue`` table); a
large one as one row of the ``segment`` table (see :mod:`wattbridge._segment`). Ids are
one sequence over both, so every method sees a segment's readings exactly as rows.

The same file keeps the sink's small durable state: its backoff, its per-credential
request times (so rate limits survive restarts), its last success
and last error, and whatever a sink stores for a multi-step delivery.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import threading
import time
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby, islice, repeat
from pathlib import Path
from typing import Any

import attrs

from wattbridge._columns import ReadingColumns
from wattbridge._deliverystate import DeliveryState
from wattbridge._private import private_file
from wattbridge._readings import Reading, from_epoch_us, to_epoch_us, trusted_reading
from wattbridge._segment import (
    SEGMENT_MIN,
    Columns,
    Ranges,
    SegmentDamaged,
    check,
    clip,
    contains,
    covered,
    first_queued,
    merge_ranges,
    pack,
    pack_attempts,
    pack_ranges,
    queued_offsets,
    queued_runs,
    reading_at,
    unpack,
    unpack_attempts,
    unpack_ranges,
)
from wattbridge._sinks import Batch

_READING_COLUMNS = """
    stream TEXT NOT NULL,
    ts INTEGER NOT NULL,
    value NOT NULL,
    unit TEXT NOT NULL,
    source TEXT NOT NULL,
    credential TEXT NOT NULL,
    queued_at REAL NOT NULL"""
"""A queued reading's columns, the same in the queue and the dead-letter table."""

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY,{_READING_COLUMNS},
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS deadletter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,{_READING_COLUMNS},
    attempts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segment (
    first_id INTEGER PRIMARY KEY,
    count INTEGER NOT NULL,
    remaining INTEGER NOT NULL,
    credential TEXT NOT NULL,
    queued_at REAL NOT NULL,
    attempts BLOB,
    done BLOB NOT NULL,
    checksum INTEGER NOT NULL,
    columns BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

RECENT_MAX = 100_000
"""Readings an outbox keeps in memory, as put, for ``take``: rows, and segments apart
(about 25 MB at most each)."""

Refusal = tuple[Reading, str]
"""A reading that cannot be queued, with the reason it is dead-lettered."""

_CREDENTIAL_INDEXES = (
    "CREATE INDEX IF NOT EXISTS queue_credential ON queue (credential, id);"
    "CREATE INDEX IF NOT EXISTS segment_credential ON segment (credential, first_id);"
)
_DEAD_LETTER_COLUMNS = (
    "deadletter (stream, ts, value, unit, source, credential, queued_at, attempts, reason,"
    " failed_at)"
)
"""The dead-letter table and the columns every insert into it fills."""
_SEGMENT_META = "first_id, count, remaining, credential, queued_at, attempts, done"
"""A segment's columns but its readings' (the blob last in the row, read only when needed)."""
_SEGMENT_PAGE = 64
_NOTHING_DONE = pack_ranges([])


@attrs.frozen
class DeadLetter:
    """A reading the platform refused, with its reason."""

    id: int
    reading: Reading
    reason: str
    failed_at: float
    attempts: int


@attrs.frozen
class OutboxStatus:
    """A snapshot of one outbox for ``wattbridge status``."""

    depth: int
    oldest_reading: str | None
    oldest_queued_at: float | None
    dead_letters: int
    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    halted: str | None
    sent_total: int
    next_attempt_at: float | None
    retried_total: int = 0
    """Failed attempts counted over the readings (a reading retried twice counts 2)."""


class OutboxDamaged(Exception):
    """An outbox file SQLite cannot read (a damaged page, a file that is not a database),
    or a segment of it whose checksum does not match."""


class OutboxGone(OSError):
    """The outbox file was deleted or replaced while open: what is written now is lost."""


def _id_ranges(ids: Iterable[int]) -> list[tuple[int, int]]:
    """Contiguous runs of sorted ids, so deletes touch ranges instead of single rows."""
    if not isinstance(ids, list | range | tuple):
        ids = list(ids)
    # A whole batch acked: its ids in order with no gap are one run (the comparison runs
    # in C; the loop below is a Python step an id).
    if ids and ids[-1] - ids[0] + 1 == len(ids) and list(ids) == list(range(ids[0], ids[-1] + 1)):
        return [(ids[0], ids[-1])]
    ranges: list[tuple[int, int]] = []
    for value in sorted(ids):
        if ranges and value == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], value)
        else:
            ranges.append((value, value))
    return ranges


def _credential_runs(size: int, credentials: Sequence[str] | None) -> list[tuple[int, int, str]]:
    """(start, end, credential) of each run of ``size`` readings that share one
    credential."""
    if credentials is None:
        return [(0, size, "")]
    if credentials.count(credentials[0]) == len(credentials):  # the common case, in C
        return [(0, size, credentials[0])]
    runs = []
    start = 0
    for credential, run in groupby(credentials):
        end = start + sum(1 for _ in run)
        runs.append((start, end, credential))
        start = end
    return runs


class Outbox:
    """One sink's queue, dead-letter table and state, in ``path``.

    Thread-safe: sources put from their threads while the sink's flush takes and acks.
    ``max_queue`` is the bound past which :meth:`has_room` turns false; a put is never
    refused (the bound is checked before a source accepts input, so it can overshoot by
    at most one batch per source). Sources that cannot pause without loss go on past it
    while :meth:`has_overflow_room`: the file below ``max_queue_bytes`` and more than
    ``min_free_bytes`` free on its file system.
    """

    def __init__(
        self,
        path: Path,
        *,
        max_queue: int = 1_000_000,
        synchronous: str = "FULL",
        max_queue_bytes: int = 2_000_000_000,
        min_free_bytes: int = 200_000_000,
    ):
        self.path = path
        self.max_queue = max_queue
        self.max_queue_bytes = max_queue_bytes
        self.min_free_bytes = min_free_bytes
        private_file(path)  # 0600 before SQLite makes it: its -wal and -shm follow
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        try:
            self._open(synchronous)
        except OutboxDamaged:
            self._db.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if isinstance(exc, sqlite3.OperationalError):
                raise sqlite3.OperationalError(f"outbox {path}: {exc}") from exc
            raise OutboxDamaged(f"outbox {path} is damaged: {exc}") from exc
        # The file's identity: another one at the path (or none) means it was deleted.
        self._identity = _identity(path)
        self._room = threading.Condition(self._lock)
        self._recent: dict[int, tuple[Any, ...]] = {}
        """(stream, ts, value, unit, source) of rows put lately, by id, for ``take``."""
        self._kept: dict[int, Columns] = {}
        """Segments' columns by first id, as put or last read, for ``take``; at most
        RECENT_MAX readings' worth, the oldest dropped first."""

    def _open(self, synchronous: str) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        # Puts are synced as `synchronous` says (FULL: a reading acknowledged to a source
        # survives a power cut, not only a crash). Everything else (acks, attempts,
        # state) is written with NORMAL: losing the last of those to a power cut only
        # resends readings, which the platforms overwrite, and saves an fsync a batch.
        self._put_sync = synchronous
        self._sync = ""
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._has_credential_index = False
        self._check_segments()
        self._depth = self._count_queued()
        # Ids are given here, never reused (a sink's stored progress names batches by
        # their ids): AUTOINCREMENT would guarantee the same at twice the insert cost.
        (highest,) = self._db.execute("SELECT MAX(id) FROM queue").fetchone()
        (segment_end,) = self._db.execute(
            "SELECT MAX(first_id + count - 1) FROM segment"
        ).fetchone()
        self._next_id = max(highest or 0, segment_end or 0, int(self.get_state("last_id") or 0)) + 1

    def _check_segments(self) -> None:
        """Check every segment's checksum and acknowledged offsets, as SQLite checks its
        pages when it counts the rows: a damaged outbox is found when it opens (its sink
        is not started, and ``status`` says so), not when its turn comes to be sent.
        (About 40 MB read and checked for a million readings queued.)"""
        for first_id, count, remaining, done, checksum, blob in self._db.execute(
            "SELECT first_id, count, remaining, done, checksum, columns FROM segment"
        ):
            try:
                check(blob, checksum)
                if count - covered(unpack_ranges(done, count)) != remaining:
                    raise SegmentDamaged("its count of queued readings does not match")
            except (SegmentDamaged, TypeError) as exc:
                raise self._damaged(first_id, exc) from None

    def _count_queued(self) -> int:
        (rows,) = self._db.execute("SELECT COUNT(*) FROM queue").fetchone()
        (segments, in_segments) = self._db.execute(
            "SELECT COUNT(*), SUM(remaining) FROM segment"
        ).fetchone()
        # Segments are made and deleted only through this object (the state folder's lock
        # keeps other runs out), so it counts them: with none, a small put's take and ack
        # skip the segment table, and keep their speed.
        self._segments = int(segments)
        return int(rows) + int(in_segments or 0)

    @classmethod
    def open_existing(cls, path: Path) -> Outbox:
        """Open an outbox that a run made (another process may be running it now, which
        WAL allows); FileNotFoundError if none was ever made there."""
        if not path.exists():
            raise FileNotFoundError(path)
        return cls(path)

    def close(self) -> None:
        """Close the database; the outbox must not be used after."""
        with self._lock:
            self._db.close()

    def gone(self) -> str | None:
        """Why the file this outbox writes is no longer at its path (deleted, or replaced
        by another), or None while it is."""
        try:
            now = _identity(self.path)
        except FileNotFoundError:
            return f"outbox {self.path} was deleted while running"
        if now != self._identity:
            return f"outbox {self.path} was replaced by another file while running"
        return None

    def save_copy(self, destination: Path) -> None:
        """Write what this outbox holds (from the open file, even a deleted one) to a
        new SQLite file at ``destination``."""
        destination.parent.mkdir(parents=True, exist_ok=True)
        copy = sqlite3.connect(destination)
        try:
            with self._lock:
                self._db.backup(copy)
        finally:
            copy.close()

    # -- queue ---------------------------------------------------------------

    def use_credentials(self) -> None:
        """Index the queue by credential, for sinks with a per-credential rate limit."""
        if not self._has_credential_index:
            with self._lock:
                self._db.executescript(_CREDENTIAL_INDEXES)
            self._has_credential_index = True

    @property
    def depth(self) -> int:
        """Readings queued now."""
        return self._depth

    def has_room(self) -> bool:
        """True while the queue is below its bound."""
        return self._depth < self.max_queue

    def size_bytes(self) -> int:
        """The bytes the outbox's files take (the database and its write-ahead log)."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += os.stat(f"{self.path}{suffix}").st_size
            except FileNotFoundError:
                pass
        return total

    def free_bytes(self) -> int:
        """Bytes free (to this user) on the outbox's file system."""
        stat = os.statvfs(self.path.parent)
        return stat.f_bavail * stat.f_frsize

    def has_overflow_room(self) -> bool:
        """True while a source that cannot pause may queue past ``max_queue``: the files
        below ``max_queue_bytes`` and enough left free on the disk."""
        return self.free_bytes() > self.min_free_bytes and self.size_bytes() < self.max_queue_bytes

    def wait_for_room(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for the queue to drop below its bound."""
        with self._room:
            return self._room.wait_for(self.has_room, timeout)

    def put(
        self,
        readings: Sequence[Reading] | ReadingColumns,
        credentials: Sequence[str] | None = None,
    ) -> None:
        """Queue ``readings`` durably, in one transaction (all or none)."""
        if not readings:
            return
        gone = self.gone()
        if gone is not None:
            raise OutboxGone(gone)
        if credentials is not None and len(credentials) != len(readings):
            raise ValueError(f"{len(readings)} readings but {len(credentials)} credentials")
        columns = ReadingColumns.from_readings(readings)
        streams, stamps, values, units, sources = (
            columns.streams, columns.stamps, columns.values, columns.units, columns.sources
        )  # fmt: skip
        now = time.time()
        with self._lock:
            first = self._next_id
            rows: list[tuple[Any, ...]] = []
            segments: list[tuple[Any, ...]] = []
            kept: list[tuple[int, Columns]] = []
            for start, end, credential in _credential_runs(len(columns), credentials):
                if end - start >= SEGMENT_MIN:
                    part: Columns = (
                        streams[start:end], stamps[start:end], values[start:end],
                        units[start:end], sources[start:end],
                    )  # fmt: skip
                    blob, checksum = pack(part)
                    segments.append(
                        (first + start, end - start, end - start, credential, now, _NOTHING_DONE,
                         checksum, blob)
                    )  # fmt: skip
                    kept.append((first + start, part))
                else:
                    rows.extend(
                        zip(
                            range(first + start, first + end), streams[start:end],
                            stamps[start:end], values[start:end], units[start:end],
                            sources[start:end], repeat(credential), repeat(now),
                        )
                    )  # fmt: skip
            with self._transaction(durable=True):
                if rows:
                    self._insert(rows, first + len(columns) - 1)
                if segments:
                    self._db.executemany(
                        "INSERT INTO segment (first_id, count, remaining, credential, queued_at,"
                        " done, checksum, columns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        segments,
                    )
                    self._set("last_id", str(first + len(columns) - 1))
            self._segments += len(segments)
            for first_id, part in kept:
                # A sink that keeps up takes them soon: no need to read them back.
                self._keep(first_id, part)
            self._inserted(len(columns), rows)

    def put_computed(
        self,
        compute: Callable[[sqlite3.Connection], tuple[Sequence[Reading], Sequence[Refusal]]],
        credential: Callable[[Reading], str] | None = None,
    ) -> None:
        """Run ``compute`` in one durable transaction, with the database for tables of
        its own (resampling keeps its windows there); queue the readings it returns and
        dead-letter the (reading, reason) pairs in that same transaction: all or none."""
        now = time.time()
        with self._lock:
            with self._transaction(durable=True):
                readings, refused = compute(self._db)
                rows = [
                    (i, r.stream, to_epoch_us(r.timestamp), r.value, r.unit, r.source,
                     credential(r) if credential is not None else "", now)
                    for i, r in enumerate(readings, self._next_id)
                ]  # fmt: skip
                if rows:
                    self._insert(rows, self._next_id + len(rows) - 1)
                self._db.executemany(
                    f"INSERT INTO {_DEAD_LETTER_COLUMNS}"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?)",
                    [
                        (r.stream, to_epoch_us(r.timestamp), r.value, r.unit, r.source,
                         credential(r) if credential is not None else "", now, reason, now)
                        for r, reason in refused
                    ],
                )  # fmt: skip
            if rows:
                self._inserted(len(rows), rows)

    def _insert(self, rows: list[tuple[Any, ...]], last_id: int) -> None:
        """Insert rows, inside the caller's transaction, and record ``last_id`` as the
        highest id given."""
        self._db.executemany(
            "INSERT INTO queue (id, stream, ts, value, unit, source, credential, queued_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        self._set("last_id", str(last_id))

    def _inserted(self, count: int, rows: list[tuple[Any, ...]]) -> None:
        """Count ``count`` readings in once their transaction has committed; keep the
        ``rows`` put in the queue table at hand for ``take`` while few enough are (a
        reading sent soon is never read back)."""
        if rows and len(self._recent) + len(rows) <= RECENT_MAX:
            self._recent.update((row[0], row[1:6]) for row in rows)
        self._next_id += count
        self._depth += count

    def credentials_waiting(self) -> list[str]:
        """Credentials with queued readings, the one with the oldest reading first."""
        with self._lock:
            oldest = dict(
                self._db.execute("SELECT credential, MIN(id) FROM queue GROUP BY credential")
            )
            segments = (
                self._db.execute(
                    "SELECT credential, MIN(first_id), count, done FROM segment GROUP BY credential"
                ).fetchall()
                if self._segments
                else []
            )
            for credential, first_id, count, done in segments:
                head = first_id + self._first_queued(first_id, count, done)
                oldest[credential] = min(oldest.get(credential, head), head)
        return sorted(oldest, key=oldest.__getitem__)

    def take(self, limit: int, credential: str | None = None) -> Batch:
        """The oldest ``limit`` readings (of ``credential`` if given); they stay queued."""
        where, params = ("", ()) if credential is None else (" WHERE credential = ?", (credential,))
        with self._lock:
            ids = [
                row[0]
                for row in self._db.execute(
                    f"SELECT id FROM queue{where} ORDER BY id LIMIT ?", (*params, limit)
                )
            ]
            # The segments' oldest ids, as many as could be among the oldest ``limit``.
            segment_ids: list[int] = []
            segments: list[tuple[int, int]] = []  # (first id, count) of those taken from
            for first_id, count, done in self._segment_heads(credential):
                if len(segment_ids) >= limit:
                    break
                wanted = limit - len(segment_ids)
                for start, end in queued_runs(count, self._done(first_id, count, done)):
                    if wanted <= 0:
                        break
                    stop = min(end, start + wanted)
                    segment_ids += range(first_id + start, first_id + stop)
                    wanted -= stop - start
                segments.append((first_id, count))
            if segment_ids:
                merged = heapq.merge(ids, segment_ids) if ids else segment_ids
                ids = list(islice(merged, limit))
            columns = self._columns_of(ids, segments)
        return Batch(readings=columns, ids=ids, credential=credential or "")

    def _columns_of(self, ids: list[int], segments: list[tuple[int, int]]) -> ReadingColumns:
        """The readings of queued ``ids`` (sorted; those in a segment are in
        ``segments``, (first id, count) sorted) as columns: a run of ids in a segment is
        a slice of its columns, a run in the queue table is read as rows."""
        streams: list[str] = []
        stamps: list[int] = []
        values: list[Any] = []
        units: list[str] = []
        sources: list[str] = []
        starts = [first_id for first_id, _ in segments]
        for first, last in _id_ranges(ids):
            at = first
            while at <= last:
                index = bisect_right(starts, at) - 1
                if index >= 0 and at < starts[index] + segments[index][1]:
                    first_id, count = segments[index]
                    end = min(last, first_id + count - 1)
                    low, high = at - first_id, end - first_id + 1
                    part = self._columns(first_id, count)
                    streams += part[0][low:high]
                    stamps += part[1][low:high]
                    values += part[2][low:high]
                    units += part[3][low:high]
                    sources += part[4][low:high]
                else:
                    # Rows up to the next segment (ids are one sequence over both).
                    end = last if index + 1 >= len(starts) else min(last, starts[index + 1] - 1)
                    for row in self._rows(at, end):
                        streams.append(row[0])
                        stamps.append(row[1])
                        values.append(row[2])
                        units.append(row[3])
                        sources.append(row[4])
                at = end + 1
        return ReadingColumns.trusted(streams, stamps, values, units, sources)

    def _rows(self, first: int, last: int) -> list[tuple[Any, ...]]:
        """(stream, ts, value, unit, source) of the queued rows ``first`` to ``last``,
        every id between queued, from those kept since the put where they are."""
        recent = self._recent
        kept = [recent.get(i) for i in range(first, last + 1)]
        if all(row is not None for row in kept):
            return kept  # type: ignore[return-value]  # every one checked
        return self._db.execute(
            "SELECT stream, ts, value, unit, source FROM queue WHERE id BETWEEN ? AND ?"
            " ORDER BY id",
            (first, last),
        ).fetchall()

    def _segment_heads(self, credential: str | None) -> Iterator[tuple[int, int, bytes]]:
        """(first id, count, done) of each segment (of ``credential`` if given), oldest
        first, read a page at a time without their readings."""
        where = "" if credential is None else " AND credential = ?"
        params: tuple[Any, ...] = () if credential is None else (credential,)
        after = 0
        while self._segments:
            page = self._db.execute(
                f"SELECT first_id, count, done FROM segment WHERE first_id > ?{where}"
                " ORDER BY first_id LIMIT ?",
                (after, *params, _SEGMENT_PAGE),
            ).fetchall()
            yield from page
            if len(page) < _SEGMENT_PAGE:
                return
            after = page[-1][0]

    def _columns(self, first_id: int, count: int) -> Columns:
        """A segment's readings' columns, checked against its checksum. Those read are
        kept (see ``_keep``): a segment larger than a batch is read by several takes."""
        kept = self._kept.get(first_id)
        if kept is not None:
            return kept
        row = self._db.execute(
            "SELECT checksum, columns FROM segment WHERE first_id = ?", (first_id,)
        ).fetchone()
        try:
            if row is None:
                raise SegmentDamaged("it is gone while its readings are queued")
            columns = unpack(row[1], row[0], count)
        except SegmentDamaged as exc:
            raise self._damaged(first_id, exc) from None
        self._keep(first_id, columns)
        return columns

    def _keep(self, first_id: int, columns: Columns) -> None:
        """Keep a segment's columns at hand, dropping the oldest kept past RECENT_MAX
        readings (a queue of millions is read back from the file, a segment at a time)."""
        kept = self._kept
        kept[first_id] = columns
        total = sum(len(part[0]) for part in kept.values())
        while total > RECENT_MAX and len(kept) > 1:
            oldest = next(iter(kept))
            total -= len(kept.pop(oldest)[0])

    def _done(self, first_id: int, count: int, done: bytes) -> Ranges:
        """A segment's offsets that have left the queue."""
        try:
            return unpack_ranges(done, count)
        except SegmentDamaged as exc:
            raise self._damaged(first_id, exc) from None

    def _first_queued(self, first_id: int, count: int, done: bytes) -> int:
        """The offset of a segment's oldest queued reading."""
        offset = first_queued(count, self._done(first_id, count, done))
        if offset is None:  # a segment is deleted with its last reading
            raise self._damaged(first_id, SegmentDamaged("it holds no queued reading"))
        return offset

    def _damaged(self, first_id: int, why: Exception) -> OutboxDamaged:
        return OutboxDamaged(
            f"outbox {self.path} is damaged: the segment of readings from id {first_id}: {why}"
        )

    def ack(self, ids: Iterable[int], states: dict[str, str | None] | None = None) -> None:
        """Delete delivered readings, and store ``states`` in the same transaction."""
        ranges = _id_ranges(ids)
        if not ranges:
            return
        with self._lock:
            with self._transaction():
                before = self._db.total_changes
                self._db.executemany("DELETE FROM queue WHERE id BETWEEN ? AND ?", ranges)
                removed = self._db.total_changes - before
                in_segments, deleted = self._mark_done(ranges)
                removed += in_segments
                self._bump("sent_total", removed)
                for key, value in (states or {}).items():
                    self._set(key, value)
            self._depth -= removed
            self._segments -= deleted
            self._forget(ranges)
            self._room.notify_all()

    def _forget(self, ranges: list[tuple[int, int]]) -> None:
        """Drop the kept readings of ids that left the queue."""
        if self._recent:
            pop = self._recent.pop
            for first, last in ranges:
                for queue_id in range(first, last + 1):
                    pop(queue_id, None)

    def _segments_over(self, ranges: list[tuple[int, int]]) -> list[tuple[Any, ...]]:
        """The segments (``_SEGMENT_META``'s columns) holding any id in ``ranges``."""
        found: dict[int, tuple[Any, ...]] = {}
        for first, last in ranges if self._segments else ():
            holding = self._segment_holding(first)
            if holding is not None:
                found[holding[0]] = holding
            for segment in self._db.execute(
                f"SELECT {_SEGMENT_META} FROM segment WHERE first_id > ? AND first_id <= ?",
                (first, last),
            ):
                found[segment[0]] = segment
        return [found[key] for key in sorted(found)]

    def _mark_done(self, ranges: list[tuple[int, int]]) -> tuple[int, int]:
        """Mark the segments' readings with ids in ``ranges`` as gone from the queue
        (inside the caller's transaction); a segment left with none is deleted. Returns
        how many readings left (those already gone are not counted again) and how many
        segments were deleted (to count once the transaction has committed)."""
        left = 0
        deleted = 0
        for first_id, count, remaining, *_, done in self._segments_over(ranges):
            merged, newly = merge_ranges(
                self._done(first_id, count, done), clip(ranges, first_id, count)
            )
            if not newly:
                continue
            left += newly
            if remaining - newly <= 0:
                self._db.execute("DELETE FROM segment WHERE first_id = ?", (first_id,))
                deleted += 1
                self._kept.pop(first_id, None)
            else:
                self._db.execute(
                    "UPDATE segment SET remaining = ?, done = ? WHERE first_id = ?",
                    (remaining - newly, pack_ranges(merged), first_id),
                )
        return left, deleted

    def count_attempt(self, ids: Iterable[int]) -> None:
        """Record one more failed attempt for these readings."""
        ranges = _id_ranges(ids)
        with self._lock, self._transaction():
            self._db.executemany(
                "UPDATE queue SET attempts = attempts + 1 WHERE id BETWEEN ? AND ?", ranges
            )
            for first_id, count, _, _, _, attempts, done in self._segments_over(ranges):
                tries = self._attempts(first_id, count, attempts)
                gone = self._done(first_id, count, done)
                for first, last in clip(ranges, first_id, count):
                    for offset in range(first, last + 1):
                        if not contains(gone, offset):
                            tries[offset] += 1
                self._db.execute(
                    "UPDATE segment SET attempts = ? WHERE first_id = ?",
                    (pack_attempts(tries), first_id),
                )
            self._bump("retried_total", sum(last - first + 1 for first, last in ranges))

    def _attempts(self, first_id: int, count: int, attempts: bytes | None) -> list[int]:
        """A segment's failed attempts, one a reading."""
        try:
            return unpack_attempts(attempts, count)
        except SegmentDamaged as exc:
            raise self._damaged(first_id, exc) from None

    def iter_queued(self, chunk: int = 10_000) -> Iterator[Reading]:
        """Every queued reading, oldest first (for tests and export)."""
        merged = heapq.merge(
            self._queued_rows(chunk), self._queued_in_segments(), key=lambda pair: pair[0]
        )
        for _, reading in merged:
            yield reading

    def _queued_rows(self, chunk: int) -> Iterator[tuple[int, Reading]]:
        """(id, reading) of the rows of the queue table, oldest first."""
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT id, stream, ts, value, unit, source FROM queue WHERE id > ?"
                    " ORDER BY id LIMIT ?",
                    (last, chunk),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row[0], trusted_reading(*row[1:])
            last = rows[-1][0]

    def _queued_in_segments(self) -> Iterator[tuple[int, Reading]]:
        """(id, reading) of the queued readings in segments, oldest first."""
        after = 0
        while self._segments:
            with self._lock:
                row = self._db.execute(
                    "SELECT first_id, count, done FROM segment"
                    " WHERE first_id > ? ORDER BY first_id LIMIT 1",
                    (after,),
                ).fetchone()
                if row is None:
                    return
                first_id, count, done = row
                columns = self._columns(first_id, count)
                offsets = queued_offsets(count, self._done(first_id, count, done))
            for offset in offsets:
                yield first_id + offset, reading_at(columns, offset)
            after = first_id

    # -- dead letters ----------------------------------------------------------

    def deadletter(self, reasons: dict[int, str]) -> int:
        """Move queued readings to the dead-letter table, each with its reason."""
        if not reasons:
            return 0
        now = time.time()
        with self._lock:
            with self._transaction():
                moved = 0
                segment: _SegmentAt | None = None
                from_segments: list[int] = []
                for queue_id, reason in reasons.items():
                    cursor = self._db.execute(
                        f"INSERT INTO {_DEAD_LETTER_COLUMNS}"
                        " SELECT stream, ts, value, unit, source, credential, queued_at,"
                        " attempts + 1, ?, ? FROM queue WHERE id = ?",
                        (reason, now, queue_id),
                    )
                    if cursor.rowcount:
                        moved += 1
                        self._db.execute("DELETE FROM queue WHERE id = ?", (queue_id,))
                        continue
                    if segment is None or not segment.holds(queue_id):
                        segment = self._segment_at(queue_id)
                    if segment is None or not segment.queued(queue_id):
                        continue  # gone already
                    reading = reading_at(segment.columns, queue_id - segment.first_id)
                    self._db.execute(
                        f"INSERT INTO {_DEAD_LETTER_COLUMNS}"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (reading.stream, to_epoch_us(reading.timestamp), reading.value,
                         reading.unit, reading.source, segment.credential, segment.queued_at,
                         segment.attempts[queue_id - segment.first_id] + 1, reason, now),
                    )  # fmt: skip
                    from_segments.append(queue_id)
                in_segments, deleted = self._mark_done(_id_ranges(from_segments))
                moved += in_segments
            self._depth -= moved
            self._segments -= deleted
            self._forget(_id_ranges(reasons))
            self._room.notify_all()
        return moved

    def _segment_holding(self, queue_id: int) -> tuple[Any, ...] | None:
        """``_SEGMENT_META``'s columns of the segment whose ids include ``queue_id``."""
        row = self._db.execute(
            f"SELECT {_SEGMENT_META} FROM segment WHERE first_id <= ?"
            " ORDER BY first_id DESC LIMIT 1",
            (queue_id,),
        ).fetchone()
        return row if row is not None and row[0] + row[1] > queue_id else None

    def _segment_at(self, queue_id: int) -> _SegmentAt | None:
        """The segment holding ``queue_id``, unpacked, or None."""
        row = self._segment_holding(queue_id) if self._segments else None
        if row is None:
            return None
        first_id, count, _, credential, queued_at, attempts, done = row
        return _SegmentAt(
            first_id,
            count,
            credential,
            queued_at,
            self._attempts(first_id, count, attempts),
            self._done(first_id, count, done),
            self._columns(first_id, count),
        )

    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """Dead letters, oldest first."""
        query = (
            "SELECT id, stream, ts, value, unit, source, reason, failed_at, attempts"
            " FROM deadletter ORDER BY id"
        )
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self._lock:
            rows = self._db.execute(query).fetchall()
        return [
            DeadLetter(row[0], trusted_reading(*row[1:6]), row[6], row[7], row[8]) for row in rows
        ]

    def purge_dead_letters(self, failed_before: float) -> int:
        """Delete dead letters that failed before ``failed_before`` (epoch seconds);
        returns how many were deleted."""
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "DELETE FROM deadletter WHERE failed_at < ?", (failed_before,)
            )
            return cursor.rowcount

    def replay(
        self,
        ids: Sequence[int] | None = None,
        credential: Callable[[Reading], str] | None = None,
    ) -> int:
        """Move dead letters (all, or those with ``ids``) back to the queue's tail.

        ``credential`` (the sink's) assigns each its credential afresh: the fix that
        makes a replay worth doing may have moved a stream to another sender profile.
        """
        where = ""
        params: list[Any] = []
        if ids is not None:
            if not ids:
                return 0
            where = f" WHERE id IN ({','.join('?' * len(ids))})"
            params = list(ids)
        now = time.time()
        with self._lock:
            letters = self._db.execute(
                "SELECT id, stream, ts, value, unit, source, credential FROM deadletter"
                f"{where} ORDER BY id",
                params,
            ).fetchall()
            if not letters:
                return 0
            if credential is not None:
                letters = [(*row[:6], credential(trusted_reading(*row[1:6]))) for row in letters]
            rows = [(i, *row[1:], now) for i, row in enumerate(letters, self._next_id)]
            # Queued again and forgotten as dead letters in one durable transaction.
            with self._transaction(durable=True):
                self._insert(rows, self._next_id + len(rows) - 1)
                self._db.executemany(
                    "DELETE FROM deadletter WHERE id = ?", [(row[0],) for row in letters]
                )
            self._inserted(len(rows), rows)
        return len(rows)

    def restore(
        self,
        queue: Sequence[tuple[Any, ...]],
        dead: Sequence[tuple[Any, ...]],
        states: dict[str, str],
        *,
        keep_ids: bool,
    ) -> None:
        """Add rows salvaged from another outbox file, in one durable transaction:
        ``queue`` rows (id, stream, ts, value, unit, source, credential, queued_at,
        attempts), with their ids if ``keep_ids`` (into an empty outbox) or numbered
        after this one's; ``dead`` rows without their ids; ``states`` as they were."""
        with self._lock:
            if keep_ids:
                rows = list(queue)
                next_id = max([self._next_id - 1, *(row[0] for row in rows)]) + 1
            else:
                rows = [(i, *row[1:]) for i, row in enumerate(queue, self._next_id)]
                next_id = self._next_id + len(rows)
            with self._transaction(durable=True):
                self._db.executemany(
                    "INSERT INTO queue (id, stream, ts, value, unit, source, credential,"
                    " queued_at, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.executemany(
                    f"INSERT INTO {_DEAD_LETTER_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    dead,
                )
                for key, value in states.items():
                    self._set(key, value)
                self._set("last_id", str(next_id - 1))
            self._next_id = next_id
            self._depth += len(rows)

    # -- state ---------------------------------------------------------------

    def get_state(self, key: str) -> str | None:
        """A stored state value, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_state(self, key: str, value: str | None) -> None:
        """Store (or with None, delete) a state value durably."""
        with self._lock, self._transaction():
            self._set(key, value)

    def set_states(self, values: dict[str, str | None]) -> None:
        """Store several state values in one transaction."""
        with self._lock, self._transaction():
            for key, value in values.items():
                self._set(key, value)

    def pop_prefixed(self, prefix: str) -> dict[str, str]:
        """Delete and return every state key starting with ``prefix``, in one transaction."""
        where = "substr(key, 1, ?) = ?"  # not LIKE: a prefix may hold % or _
        with self._lock, self._transaction():
            rows = self._db.execute(
                f"SELECT key, value FROM state WHERE {where}", (len(prefix), prefix)
            ).fetchall()
            self._db.execute(f"DELETE FROM state WHERE {where}", (len(prefix), prefix))
        return dict(rows)

    def _set(self, key: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM state WHERE key = ?", (key,))
        else:
            self._db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def _bump(self, key: str, amount: int) -> None:
        self._db.execute(
            "INSERT INTO state (key, value) VALUES (?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + ?",
            (key, str(amount), amount),
        )

    def status(self) -> OutboxStatus:
        """Depth, oldest reading, dead letters, last success and last error."""
        with self._lock:
            depth = self._count_queued()
            oldest = self._oldest()
            dead = self._db.execute("SELECT COUNT(*) FROM deadletter").fetchone()[0]
            state = dict(self._db.execute("SELECT key, value FROM state").fetchall())
        delivery = DeliveryState.summarize(state)
        return OutboxStatus(
            depth=depth,
            oldest_reading=(
                from_epoch_us(oldest[0]).isoformat() if oldest and oldest[0] is not None else None
            ),
            oldest_queued_at=oldest[1] if oldest else None,
            dead_letters=dead,
            last_success=delivery.last_success,
            last_error=delivery.last_error,
            last_error_at=delivery.last_error_at,
            halted=delivery.halted,
            sent_total=int(state.get("sent_total", 0)),
            next_attempt_at=delivery.next_attempt_at,
            retried_total=int(state.get("retried_total", 0)),
        )

    def _oldest(self) -> tuple[int | None, float] | None:
        """(epoch microseconds, queued_at) of the oldest queued reading, or None; its
        time is None when it is in a damaged segment (status shows the rest; the sink's
        worker, which reads it to send, stops and says so)."""
        row = self._db.execute("SELECT id, ts, queued_at FROM queue ORDER BY id LIMIT 1").fetchone()
        segment = None
        if self._segments:
            segment = self._db.execute(
                "SELECT first_id, count, queued_at, done FROM segment ORDER BY first_id LIMIT 1"
            ).fetchone()
        if segment is not None:
            first_id, count, queued_at, done = segment
            try:
                head = first_id + self._first_queued(first_id, count, done)
                if row is None or head < row[0]:
                    stamps = self._columns(first_id, count)[1]
                    return stamps[head - first_id], queued_at
            except OutboxDamaged:
                return None, queued_at
        return None if row is None else (row[1], row[2])

    # -- internals -------------------------------------------------------------

    def _transaction(self, durable: bool = False) -> _Transaction:
        sync = self._put_sync if durable else "NORMAL"
        if sync != self._sync:
            self._db.execute(f"PRAGMA synchronous={sync}")
            self._sync = sync
        return _Transaction(self._db)


@attrs.frozen
class _SegmentAt:
    """One segment, unpacked, while its readings are dead-lettered one by one."""

    first_id: int
    count: int
    credential: str
    queued_at: float
    attempts: list[int]
    done: Ranges
    columns: Columns

    def holds(self, queue_id: int) -> bool:
        """True when ``queue_id`` is one of this segment's ids."""
        return self.first_id <= queue_id < self.first_id + self.count

    def queued(self, queue_id: int) -> bool:
        """True when ``queue_id`` is this segment's and still queued."""
        return self.holds(queue_id) and not contains(self.done, queue_id - self.first_id)


def queued_in_file(path: Path) -> int | None:
    """Readings queued in the outbox file at ``path`` (rows and segments), read-only, so
    while another process runs it; None while there is no file or no queue in it yet."""
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.OperationalError:
        return None
    try:
        (rows,) = db.execute("SELECT COUNT(*) FROM queue").fetchone()
        try:
            (in_segments,) = db.execute("SELECT SUM(remaining) FROM segment").fetchone()
        except sqlite3.OperationalError:  # made before segments
            in_segments = 0
    except sqlite3.OperationalError:  # made, but its tables not yet
        return None
    finally:
        db.close()
    return int(rows) + int(in_segments or 0)


def _identity(path: Path) -> tuple[int, int]:
    stat = os.stat(path)
    return stat.st_dev, stat.st_ino


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is autocommit)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


class OutboxState:
    """A sink's view of its outbox's state table (keys prefixed, so they cannot clash)."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def get(self, key: str) -> str | None:
        """The stored value, or None."""
        return self._outbox.get_state(f"sink:{key}")

    def set(self, key: str, value: str | None) -> None:
        """Store ``value`` durably (None deletes the key)."""
        self._outbox.set_state(f"sink:{key}", value)
