"""The sandbox's memory: a settable clock, and SQLite tables of stored values (one per
meter and timestamp) and of every request (its time, sender, size and status)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import attrs


class SandboxClock:
    """Real time plus an offset that tests move forward (or set outright)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """The sandbox's time, in epoch seconds."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward; returns the new time."""
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, epoch: float) -> float:
        """Make the clock read ``epoch`` now (it runs on from there)."""
        with self._lock:
            self._offset = epoch - time.time()
        return self.now()


@attrs.frozen
class LoggedRequest:
    """One request the sandbox answered."""

    at: float
    sender: str | None
    size: int
    status: int


class Store:
    """Stored values and the request log, in ``path`` (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            """
            CREATE TABLE IF NOT EXISTS value (
                meter TEXT NOT NULL, ts TEXT NOT NULL, value REAL NOT NULL,
                sender TEXT NOT NULL, PRIMARY KEY (meter, ts));
            CREATE TABLE IF NOT EXISTS request (
                id INTEGER PRIMARY KEY, at REAL NOT NULL, sender TEXT,
                size INTEGER NOT NULL, status INTEGER NOT NULL);
            """
        )

    def store(self, sender: str, meter: str, values: list[tuple[str, float]]) -> None:
        """Keep ``values`` of ``meter``: one value per timestamp, the last one winning."""
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO value (meter, ts, value, sender) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (meter, ts) DO UPDATE SET value = excluded.value,"
                " sender = excluded.sender",
                [(meter, ts, value, sender) for ts, value in values],
            )
            self._db.execute("COMMIT")

    def values(self, meter: str | None = None) -> dict[str, dict[str, float]]:
        """Meter -> {UTC timestamp -> value}, of one meter or all."""
        query = "SELECT meter, ts, value FROM value"
        params: tuple[str, ...] = ()
        if meter is not None:
            query += " WHERE meter = ?"
            params = (meter,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY meter, ts", params).fetchall()
        result: dict[str, dict[str, float]] = {}
        for meter_id, ts, value in rows:
            result.setdefault(meter_id, {})[ts] = value
        return result

    def count(self) -> int:
        """How many values are stored."""
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM value").fetchone()
        return int(count)

    def log(self, at: float, sender: str | None, size: int, status: int) -> None:
        """Record one request."""
        with self._lock:
            self._db.execute(
                "INSERT INTO request (at, sender, size, status) VALUES (?, ?, ?, ?)",
                (at, sender, size, status),
            )

    def requests(self) -> list[LoggedRequest]:
        """Every request answered, in order."""
        with self._lock:
            rows = self._db.execute("SELECT at, sender, size, status FROM request ORDER BY id")
            return [LoggedRequest(*row) for row in rows.fetchall()]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
