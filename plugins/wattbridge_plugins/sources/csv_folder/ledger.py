"""The ledger: every file the source took, by content hash, and how far its import got.

One SQLite file in the source's state folder (synchronous=FULL, like the outboxes). An
entry is ``importing`` while its rows are being emitted (``emitted`` rows so far, the
byte ``offset`` and ``line`` where the next row starts), ``emitted`` once every row is
durable in the outboxes, and ``done`` once the file is in done/. A restart resumes an
``importing`` file at its offset; a file whose content is ``emitted`` or ``done`` is
not imported again (with ``dedupe``). ``failed`` files are remembered for the record
only: the same content dropped again is checked again (the config may have been fixed).
"""

from __future__ import annotations

import sqlite3
import threading
import time
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
"""

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

    @property
    def imported(self) -> bool:
        """True once every row of the file is durable in the outboxes."""
        return self.status in IMPORTED


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

    def begin(self, content_hash: str, name: str, size: int, rows: int, bad_rows: int) -> Entry:
        """Start (or restart from zero) the import of a file's content."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO files (hash, name, size, status, rows, bad_rows, started_at,"
                " updated_at) VALUES (?, ?, ?, 'importing', ?, ?, ?, ?)"
                " ON CONFLICT (hash) DO UPDATE SET name = excluded.name, status = 'importing',"
                " rows = excluded.rows, bad_rows = excluded.bad_rows, emitted = 0,"
                " readings = 0, offset = 0, line = 0, moved_to = '',"
                " started_at = excluded.started_at, updated_at = excluded.updated_at",
                (content_hash, name, size, rows, bad_rows, now, now),
            )
        entry = self.get(content_hash)
        assert entry is not None
        return entry

    def progress(
        self, content_hash: str, emitted: int, readings: int, offset: int, line: int
    ) -> None:
        """Record that rows up to byte ``offset`` (line ``line``) are durable."""
        with self._lock:
            self._db.execute(
                "UPDATE files SET emitted = ?, readings = ?, offset = ?, line = ?,"
                " updated_at = ? WHERE hash = ?",
                (emitted, readings, offset, line, time.time(), content_hash),
            )

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
