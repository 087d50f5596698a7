"""The sandbox's memory: the stored values in SQLite, one per meter and timestamp, so a
restarted sandbox still has what it was sent."""

from __future__ import annotations

import threading
from pathlib import Path

from wattbridge_plugins.common.sandbox import open_database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS value (
    meter TEXT NOT NULL, ts TEXT NOT NULL, value REAL NOT NULL,
    sender TEXT NOT NULL, PRIMARY KEY (meter, ts));
"""


class Store:
    """The stored values, in ``path`` (thread-safe)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.Lock()
        self._db = open_database(path, _SCHEMA)

    def store(self, sender: str, meter: str, values: list[tuple[str, float]]) -> None:
        """Keep ``values`` of ``meter``: one value per timestamp, the last one winning."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO value (meter, ts, value, sender) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (meter, ts) DO UPDATE SET value = excluded.value,"
                    " sender = excluded.sender",
                    [(meter, ts, value, sender) for ts, value in values],
                )
            except BaseException:
                # Left open, the transaction would make every later BEGIN fail.
                self._db.execute("ROLLBACK")
                raise
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

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
