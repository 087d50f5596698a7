"""The ledger: the files in the inbox being imported (followed), and every file the
source finished, by content hash.

One SQLite file in the source's state folder (synchronous=FULL, like the outboxes).

``follows`` has a row for each file being imported, by device and inode (the file's
identity while it grows, as Fluent Bit's tail keeps it): the byte ``offset`` and ``line``
where the next row starts (every row before is durable in the outboxes), where the
segment being emitted started (``seg_offset``, ``seg_line``) with the local-time state
there, and a ``mark`` of the bytes already imported, so a file truncated or rewritten
under the import is noticed. A restart resumes there.

``files`` has a row for each finished content: ``emitted`` once every row is durable
(the file not yet moved: a crash right before the move), ``done`` once it is in done/,
``failed`` when rejected. Content that is ``emitted`` or ``done`` is not imported again
(with ``dedupe``); ``failed`` content dropped again is checked again (the config may
have been fixed).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

from wattbridge import private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    status TEXT NOT NULL,
    rows INTEGER NOT NULL DEFAULT 0,
    bad_rows INTEGER NOT NULL DEFAULT 0,
    emitted INTEGER NOT NULL DEFAULT 0,
    readings INTEGER NOT NULL DEFAULT 0,
    offset INTEGER NOT NULL DEFAULT 0,
    line INTEGER NOT NULL DEFAULT 0,
    moved_to TEXT NOT NULL DEFAULT '',
    duplicates INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS follows (
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    name TEXT NOT NULL,
    offset INTEGER NOT NULL DEFAULT 0,
    line INTEGER NOT NULL DEFAULT 0,
    seg_offset INTEGER NOT NULL DEFAULT 0,
    seg_line INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '',
    mark_length INTEGER NOT NULL DEFAULT 0,
    mark TEXT NOT NULL,
    emitted INTEGER NOT NULL DEFAULT 0,
    readings INTEGER NOT NULL DEFAULT 0,
    bad_rows INTEGER NOT NULL DEFAULT 0,
    resolved INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (device, inode)
);
"""

_ADDED_COLUMNS = {"resolved": "INTEGER NOT NULL DEFAULT 0"}
"""Columns of ``files`` added since the first ledgers: added to an older ledger on open."""

IMPORTED = ("emitted", "done")
"""Statuses of a file whose every row is durable in the outboxes."""


@attrs.frozen
class Entry:
    """One file's row in the ledger."""

    hash: str
    name: str
    size: int
    status: str
    rows: int
    bad_rows: int
    emitted: int
    readings: int
    offset: int
    line: int
    moved_to: str
    duplicates: int
    started_at: float
    updated_at: float
    resolved: int = 0
    """Repeated local times (DST's October hour) told apart by the file's order."""

    @property
    def imported(self) -> bool:
        """True once every row of the file is durable in the outboxes."""
        return self.status in IMPORTED


@attrs.frozen
class Follow:
    """One file being imported: where its import stands (see the module doc)."""

    device: int
    inode: int
    name: str
    offset: int
    line: int
    seg_offset: int
    seg_line: int
    state: str
    mark_length: int
    mark: str
    emitted: int
    readings: int
    bad_rows: int
    resolved: int
    started_at: float
    updated_at: float


_FOLLOW_COLUMNS = ", ".join(f.name for f in attrs.fields(Follow))


class Ledger:
    """The ledger in ``path`` (created if missing). Used from the source's thread."""

    def __init__(self, path: Path) -> None:
        private_file(path)  # 0600 before SQLite makes it: its -wal and -shm follow
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: progress that says rows are delivered must not be ahead of the outboxes'.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(files)")}
        for column, kind in _ADDED_COLUMNS.items():
            if column not in have:
                self._db.execute(f"ALTER TABLE files ADD COLUMN {column} {kind}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN ... COMMIT (the connection is in autocommit mode), ROLLBACK on error."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def get(self, content_hash: str) -> Entry | None:
        """The entry of a content hash, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {', '.join(f.name for f in attrs.fields(Entry))} FROM files"
                " WHERE hash = ?",
                (content_hash,),
            ).fetchone()
        return Entry(*row) if row else None

    def all(self) -> list[Entry]:
        """Every entry, oldest first (for tests and inspection)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(f.name for f in attrs.fields(Entry))} FROM files"
                " ORDER BY started_at"
            ).fetchall()
        return [Entry(*row) for row in rows]

    # -- files being imported ----------------------------------------------------

    def follow(self, device: int, inode: int) -> Follow | None:
        """The import in progress of the file with this identity, or None."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_FOLLOW_COLUMNS} FROM follows WHERE device = ? AND inode = ?",
                (device, inode),
            ).fetchone()
        return Follow(*row) if row else None

    def follows(self) -> list[Follow]:
        """Every import in progress (for tests and inspection)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_FOLLOW_COLUMNS} FROM follows ORDER BY started_at"
            ).fetchall()
        return [Follow(*row) for row in rows]

    def begin(self, device: int, inode: int, name: str, mark_length: int, mark: str) -> Follow:
        """Start importing a file from its first byte (forgetting any earlier import of
        a file of this identity or name: that one is gone)."""
        now = time.time()
        with self._lock, self._transaction():
            self._db.execute(
                "DELETE FROM follows WHERE (device = ? AND inode = ?) OR name = ?",
                (device, inode, name),
            )
            self._db.execute(
                "INSERT INTO follows (device, inode, name, mark_length, mark, started_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (device, inode, name, mark_length, mark, now, now),
            )
        follow = self.follow(device, inode)
        assert follow is not None
        return follow

    def progress(self, follow: Follow, emitted: int, readings: int, offset: int, line: int) -> None:
        """Record that rows up to byte ``offset`` (line ``line``) are durable."""
        with self._lock:
            self._db.execute(
                "UPDATE follows SET emitted = ?, readings = ?, offset = ?, line = ?,"
                " updated_at = ? WHERE device = ? AND inode = ?",
                (emitted, readings, offset, line, time.time(), follow.device, follow.inode),
            )

    def segment_done(self, follow: Follow) -> None:
        """Record a finished segment: ``follow`` as it stands after it (its offset, the
        next segment's start and state, the mark, the counts)."""
        with self._lock:
            self._db.execute(
                "UPDATE follows SET name = ?, offset = ?, line = ?, seg_offset = ?,"
                " seg_line = ?, state = ?, mark_length = ?, mark = ?, emitted = ?,"
                " readings = ?, bad_rows = ?, resolved = ?, updated_at = ?"
                " WHERE device = ? AND inode = ?",
                (
                    follow.name,
                    follow.offset,
                    follow.line,
                    follow.seg_offset,
                    follow.seg_line,
                    follow.state,
                    follow.mark_length,
                    follow.mark,
                    follow.emitted,
                    follow.readings,
                    follow.bad_rows,
                    follow.resolved,
                    time.time(),
                    follow.device,
                    follow.inode,
                ),
            )

    def drop(self, follow: Follow) -> None:
        """Forget an import in progress (the file was rejected or changed)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM follows WHERE device = ? AND inode = ?",
                (follow.device, follow.inode),
            )

    def emitted(self, follow: Follow, content_hash: str, size: int) -> Entry:
        """Every row of a followed file is durable: record its content as ``emitted``
        (it moves to done/ next) and forget the follow, in one transaction."""
        now = time.time()
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT INTO files (hash, name, size, status, rows, bad_rows, emitted,"
                " readings, offset, line, resolved, started_at, updated_at)"
                " VALUES (?, ?, ?, 'emitted', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (hash) DO UPDATE SET name = excluded.name, status = 'emitted',"
                " rows = excluded.rows, bad_rows = excluded.bad_rows,"
                " emitted = excluded.emitted, readings = excluded.readings,"
                " offset = excluded.offset, line = excluded.line,"
                " resolved = excluded.resolved, moved_to = '', updated_at = excluded.updated_at",
                (
                    content_hash,
                    follow.name,
                    size,
                    follow.emitted + follow.bad_rows,
                    follow.bad_rows,
                    follow.emitted,
                    follow.readings,
                    follow.offset,
                    follow.line,
                    follow.resolved,
                    follow.started_at,
                    now,
                ),
            )
            self._db.execute(
                "DELETE FROM follows WHERE device = ? AND inode = ?",
                (follow.device, follow.inode),
            )
        entry = self.get(content_hash)
        assert entry is not None
        return entry

    # -- finished files ----------------------------------------------------------

    def set_status(self, content_hash: str, status: str, moved_to: str = "") -> None:
        """Set an entry's status (and where the file went)."""
        with self._lock:
            self._db.execute(
                "UPDATE files SET status = ?, moved_to = ?, updated_at = ? WHERE hash = ?",
                (status, moved_to, time.time(), content_hash),
            )

    def failed(self, content_hash: str, name: str, size: int, bad_rows: int, moved_to: str) -> None:
        """Record a rejected file (unless its content was imported before)."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO files (hash, name, size, status, bad_rows, moved_to, started_at,"
                " updated_at) VALUES (?, ?, ?, 'failed', ?, ?, ?, ?)"
                " ON CONFLICT (hash) DO UPDATE SET name = excluded.name, status = 'failed',"
                " bad_rows = excluded.bad_rows, moved_to = excluded.moved_to,"
                " updated_at = excluded.updated_at WHERE files.status NOT IN ('emitted', 'done')",
                (content_hash, name, size, bad_rows, moved_to, now, now),
            )

    def duplicate(self, content_hash: str) -> None:
        """Count one more drop of an already imported content."""
        with self._lock:
            self._db.execute(
                "UPDATE files SET duplicates = duplicates + 1, updated_at = ? WHERE hash = ?",
                (time.time(), content_hash),
            )
