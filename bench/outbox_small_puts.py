"""Benchmark: small puts (a meter's poll, an MQTT message) through the outbox, against
bare SQLite doing the same per poll, in the same run.

    python bench/outbox_small_puts.py [--polls 3000] [--streams 3] [--repeat 3]

Issue 17 stores a large put as one segment; a small one must keep its rows and its
speed. Per poll, both sides queue ``--streams`` readings in one transaction, then take
them and delete them in another (synchronous=OFF on both: the disk's fsync is not
what is compared). The wattbridge side is the Outbox (put, take, ack) as a sink
with per-credential rate limits uses it; the baseline is one INSERT a reading by
executemany, a SELECT and a DELETE by id range. Each figure is the best of
``--repeat`` runs in CPU microseconds a poll; the ratio is the baseline's over
wattbridge's (below 1: wattbridge is slower).
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def polls(count: int, streams: int) -> list[list]:  # type: ignore[type-arg]
    from wattbridge import Reading

    names = [f"meter/{n}" for n in range(streams)]
    return [
        [Reading(name, T0 + timedelta(seconds=i), float(i), "W", "meter") for name in names]
        for i in range(count)
    ]


def outbox_side(folder: Path, batches: list[list]) -> float:  # type: ignore[type-arg]
    from wattbridge._outbox import Outbox

    box = Outbox(folder / "o.sqlite", synchronous="OFF")
    box.use_credentials()
    started = time.process_time()
    for readings in batches:
        box.put(readings, ["sender"] * len(readings))
        batch = box.take(len(readings), "sender")
        box.ack(batch.ids)
    spent = time.process_time() - started
    assert box.depth == 0
    box.close()
    return spent


def sqlite_side(folder: Path, batches: list[list]) -> float:  # type: ignore[type-arg]
    from wattbridge._readings import to_epoch_us

    db = sqlite3.connect(folder / "b.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, stream, ts, value, unit, source, c)")
    next_id = 1
    started = time.process_time()
    for readings in batches:
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO q VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (i, r.stream, to_epoch_us(r.timestamp), r.value, r.unit, r.source, "sender")
                for i, r in enumerate(readings, next_id)
            ],
        )
        db.execute("COMMIT")
        next_id += len(readings)
        ids = [row[0] for row in db.execute("SELECT id FROM q ORDER BY id LIMIT ?", (10,))]
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM q WHERE id BETWEEN ? AND ?", (ids[0], ids[-1]))
        db.execute("COMMIT")
    spent = time.process_time() - started
    db.close()
    return spent


def best(side: Callable[[Path, list], float], batches: list, repeat: int) -> float:  # type: ignore[type-arg]
    results = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as folder:
            results.append(side(Path(folder), batches))
    return min(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--polls", type=int, default=3000)
    parser.add_argument("--streams", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    batches = polls(args.polls, args.streams)
    base = best(sqlite_side, batches, args.repeat) / args.polls * 1e6
    ours = best(outbox_side, batches, args.repeat) / args.polls * 1e6
    print(f"{args.polls:,} polls of {args.streams} readings, best of {args.repeat}, CPU a poll")
    print(f"  baseline (SQLite insert, select, delete)   {base:7.1f} us")
    print(f"  wattbridge outbox (put, take, ack)         {ours:7.1f} us  ratio {base / ours:.2f}")


if __name__ == "__main__":
    main()
