"""The sandbox's data: datastreams, tokens and rights, imports, and stored values.

Everything is in one SQLite file in the sandbox's state folder, so a restarted
sandbox still knows its imports and values. One value per (datastream, timestamp):
a second one overwrites the first, as the platform does.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs

from wattbridge_plugins.common.sandbox import open_database
from wattbridge_plugins.sinks.energydata.sandbox.csvrules import STREAM_TYPES, StreamType

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datastreams (
    id INTEGER PRIMARY KEY, topic TEXT UNIQUE NOT NULL, type TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, label TEXT UNIQUE NOT NULL, user_id INTEGER NOT NULL,
    read TEXT NOT NULL, write TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, token TEXT NOT NULL,
    record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vals (
    ds INTEGER NOT NULL, ts INTEGER NOT NULL, value, PRIMARY KEY (ds, ts)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

DEFAULT_DATASTREAMS: tuple[tuple[int, str, StreamType], ...] = (
    # The three of the platform's own example file, then a few a house would have.
    (117217, "demo/status", "string"),
    (117218, "my/topic", "double"),
    (119221, "demo/count", "integer"),
    (1205191, "house/import_kwh", "double"),
    (1205192, "house/power_w", "double"),
    (1205193, "house/phase_count", "integer"),
    (1205194, "house/note", "string"),
)

ALL = "*"


@attrs.frozen
class Datastream:
    """A datastream: its numeric id, its topic, and the type of its values."""

    id: int
    topic: str
    type: StreamType


@attrs.frozen
class TokenInfo:
    """Whom a token belongs to and which datastreams it may read and write."""

    token: str
    label: str
    user_id: int
    read: frozenset[int] | None  # None: every datastream
    write: frozenset[int] | None

    def may_read(self, ds: int) -> bool:
        """True if the token has "read" rights on datastream ``ds``."""
        return self.read is None or ds in self.read

    def may_write(self, ds: int) -> bool:
        """True if the token has "write" rights on datastream ``ds``."""
        return self.write is None or ds in self.write

    @property
    def writes_anything(self) -> bool:
        """True if the token may write at least one datastream."""
        return self.write is None or bool(self.write)


def _rights(value: Iterable[int] | None) -> str:
    return ALL if value is None else json.dumps(sorted(value))


def _parse_rights(text: str) -> frozenset[int] | None:
    return None if text == ALL else frozenset(json.loads(text))


def now_text() -> str:
    """The platform's time format for record fields (microseconds, Z)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store:
    """The sandbox's SQLite database. Thread-safe (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self._lock = threading.RLock()
        self._db = open_database(path, _SCHEMA)
        self.closed = False
        if self._db.execute("SELECT COUNT(*) FROM datastreams").fetchone()[0] == 0:
            for ds_id, topic, kind in DEFAULT_DATASTREAMS:
                self.add_datastream(ds_id, topic, kind)
        if self._db.execute("SELECT COUNT(*) FROM tokens").fetchone()[0] == 0:
            limited = [d[0] for d in DEFAULT_DATASTREAMS if d[0] != 119221]
            self.add_token("write", user_id=407)
            self.add_token("read", user_id=408, write=())
            self.add_token("limited", user_id=409, write=limited)
            self.add_token("none", user_id=410, read=(), write=())

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
            self.closed = True

    # -- datastreams and tokens -------------------------------------------------

    def add_datastream(self, ds_id: int, topic: str, kind: StreamType) -> Datastream:
        """Declare a datastream (or change an existing one's topic and type)."""
        if kind not in STREAM_TYPES:
            raise ValueError(f"type must be one of {STREAM_TYPES}, not {kind!r}")
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO datastreams (id, topic, type) VALUES (?, ?, ?)",
                (ds_id, topic, kind),
            )
        return Datastream(ds_id, topic, kind)

    def datastreams(self) -> dict[int, Datastream]:
        """Every datastream by id."""
        with self._lock:
            rows = self._db.execute("SELECT id, topic, type FROM datastreams").fetchall()
        return {row[0]: Datastream(*row) for row in rows}

    def resolve(self, name: str) -> Datastream | None:
        """The datastream a header or query names, by id or by topic."""
        streams = self.datastreams()
        if name.isdigit() and int(name) in streams:
            return streams[int(name)]
        return next((d for d in streams.values() if d.topic == name), None)

    def add_token(
        self,
        label: str,
        *,
        user_id: int = 407,
        read: Iterable[int] | None = None,
        write: Iterable[int] | None = None,
        token: str | None = None,
    ) -> str:
        """Create a token with rights (None: every datastream) and return it."""
        value = token or secrets.token_hex(20)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO tokens (token, label, user_id, read, write)"
                " VALUES (?, ?, ?, ?, ?)",
                (value, label, user_id, _rights(read), _rights(write)),
            )
        return value

    def tokens(self) -> dict[str, str]:
        """Label -> token."""
        with self._lock:
            return dict(self._db.execute("SELECT label, token FROM tokens").fetchall())

    def token_info(self, token: str) -> TokenInfo | None:
        """What a token may do, or None if the sandbox does not know it."""
        with self._lock:
            row = self._db.execute(
                "SELECT token, label, user_id, read, write FROM tokens WHERE token = ?", (token,)
            ).fetchone()
        if row is None:
            return None
        return TokenInfo(row[0], row[1], row[2], _parse_rights(row[3]), _parse_rights(row[4]))

    # -- imports ----------------------------------------------------------------

    def create_import(self, info: TokenInfo, name: str) -> dict[str, Any]:
        """A new import in status ``stored``, as the platform records it."""
        stamp = now_text()
        record: dict[str, Any] = {
            "user_id": info.user_id,
            "status": "stored",
            "name": name,
            "updated_at": stamp,
            "created_at": stamp,
        }
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO imports (user_id, token, record) VALUES (?, ?, ?)",
                (info.user_id, info.token, json.dumps(record)),
            )
            record["id"] = cursor.lastrowid
            self._db.execute(
                "UPDATE imports SET record = ? WHERE id = ?", (json.dumps(record), record["id"])
            )
        return record

    def get_import(self, import_id: int) -> tuple[dict[str, Any], str] | None:
        """(record, the creating token), or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT record, token FROM imports WHERE id = ?", (import_id,)
            ).fetchone()
        return (json.loads(row[0]), row[1]) if row else None

    def update_import(self, import_id: int, **changes: Any) -> dict[str, Any]:
        """Change fields of an import's record (and its updated_at); return it."""
        with self._lock:
            found = self.get_import(import_id)
            assert found is not None
            record = found[0]
            record.update(changes)
            record["updated_at"] = now_text()
            self._db.execute(
                "UPDATE imports SET record = ? WHERE id = ?", (json.dumps(record), import_id)
            )
        return record

    def imports(self) -> list[dict[str, Any]]:
        """Every import's record, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT record FROM imports ORDER BY id").fetchall()
        return [json.loads(row[0]) for row in rows]

    # -- values -----------------------------------------------------------------

    def store_values(self, rows: list[tuple[int, int, Any]]) -> None:
        """Store (datastream, epoch ms, value) rows; a second value overwrites the first."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO vals VALUES (?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def values(
        self, ds_ids: list[int], start: int | None = None, end: int | None = None
    ) -> Iterator[tuple[int, int, Any]]:
        """(epoch ms, datastream, value) in time order, ``start <= ts < end``."""
        where = f"ds IN ({','.join('?' * len(ds_ids))})"
        params: list[Any] = list(ds_ids)
        if start is not None:
            where += " AND ts >= ?"
            params.append(start)
        if end is not None:
            where += " AND ts < ?"
            params.append(end)
        last = None
        # Paged, so a long fetch streams without holding the lock or all rows.
        while True:
            page_where = where + (" AND (ts > ? OR (ts = ? AND ds > ?))" if last else "")
            page_params = params + (list(last) if last else [])
            with self._lock:
                rows = self._db.execute(
                    f"SELECT ts, ds, value FROM vals WHERE {page_where} ORDER BY ts, ds LIMIT 5000",
                    page_params,
                ).fetchall()
            if not rows:
                return
            yield from rows
            ts, ds, _ = rows[-1]
            last = (ts, ts, ds)

    def latest(self, ds_ids: list[int]) -> list[tuple[int, int, Any]]:
        """Each datastream's latest value as (epoch ms, datastream, value), by time."""
        found = []
        with self._lock:
            for ds in ds_ids:
                row = self._db.execute(
                    "SELECT ts, ds, value FROM vals WHERE ds = ? ORDER BY ts DESC LIMIT 1", (ds,)
                ).fetchone()
                if row:
                    found.append(row)
        return sorted(found)

    def all_values(self) -> dict[tuple[int, int], Any]:
        """Every stored value by (datastream, epoch ms): for tests."""
        with self._lock:
            rows = self._db.execute("SELECT ds, ts, value FROM vals").fetchall()
        return {(ds, ts): value for ds, ts, value in rows}

    def count_values(self) -> int:
        """How many values are stored."""
        with self._lock:
            count: int = self._db.execute("SELECT COUNT(*) FROM vals").fetchone()[0]
        return count

    def secret_key(self) -> bytes:
        """The key presigned upload URLs are signed with (kept across restarts)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'signing'").fetchone()
            if row is None:
                key = secrets.token_hex(32)
                self._db.execute("INSERT INTO meta VALUES ('signing', ?)", (key,))
                return key.encode()
        return str(row[0]).encode()
