"""Benchmark: readings through bus -> outbox -> jsonl sink, against a bare SQLite baseline.

Issue 17's core target: the wattbridge side (fsync on) at least 2x the readings per
second of the baseline, one SQLite row a reading written with executemany, measured in
the same run. The outbox stores each chunk as one segment (one row for 5,000 readings).

    python bench/core_throughput.py [--readings 1000000] [--repeat 3]

Each side runs in a child process of its own, so its peak memory (ru_maxrss) is its
own. Both sides get the same readings, as a bulk source hands them over (checked
columns, :class:`wattbridge.ReadingColumns`, in chunks of 5,000); what a side is
measured by is its process's CPU seconds less those its main thread spent building
them (a source's work, the same on both sides), so the ratio compares the pipelines.

- baseline: the rows written straight to SQLite with executemany (one row a reading,
  from the same columns), in one transaction.
- wattbridge: the readings emitted on the bus (chunks of 5,000, each a durable
  transaction in the sink's outbox) while the sink's flush drains the outbox to a
  jsonl file (fsynced per batch of 10,000) and acknowledges them.
"""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

CHUNK = 5000
TARGET_RATIO = 2.0
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chunks(total: int):  # type: ignore[no-untyped-def]
    """The source's readings, as a bulk source hands them over: checked columns."""
    from wattbridge import ReadingColumns

    first_us = int(T0.timestamp()) * 1_000_000
    streams = ("meter/import", "meter/export", "meter/power")
    for start in range(0, total, CHUNK):
        positions = range(start, min(start + CHUNK, total))
        yield ReadingColumns.of(
            [streams[i % 3] for i in positions],
            [first_us + i * 1_000_000 for i in positions],
            [i * 0.5 for i in positions],
            unit="kWh",
            source="bench",
        )


class Built:
    """Yields :func:`chunks`, counting the CPU seconds the calling thread spent building
    them, so a side's measure can leave them out."""

    def __init__(self, total: int) -> None:
        self.seconds = 0.0
        self._chunks = chunks(total)

    def __iter__(self):  # type: ignore[no-untyped-def]
        while True:
            started = time.thread_time()
            chunk = next(self._chunks, None)
            self.seconds += time.thread_time() - started
            if chunk is None:
                return
            yield chunk


def baseline(total: int, folder: Path) -> float:
    db = sqlite3.connect(folder / "baseline.sqlite")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, stream, ts, value, unit, source)")
    built = Built(total)
    started = time.process_time()
    with db:
        for chunk in built:
            db.executemany(
                "INSERT INTO r (stream, ts, value, unit, source) VALUES (?, ?, ?, ?, ?)",
                zip(
                    chunk.streams,
                    chunk.stamps,
                    chunk.values,
                    chunk.units,
                    chunk.sources,
                    strict=True,
                ),
            )
    elapsed = time.process_time() - started - built.seconds
    (count,) = db.execute("SELECT COUNT(*) FROM r").fetchone()
    assert count == total
    return elapsed


def wattbridge(total: int, folder: Path, fsync: bool = True) -> float:
    import logging

    from wattbridge._bus import Bus
    from wattbridge._config import Route
    from wattbridge._delivery import SinkWorker
    from wattbridge._outbox import Outbox, OutboxState
    from wattbridge._sinks import SinkContext
    from wattbridge_plugins.sinks.jsonl import JsonlConfig, JsonlSink

    outbox = Outbox(folder / "outbox.sqlite", synchronous="FULL" if fsync else "NORMAL")
    log = logging.getLogger("bench")
    out = folder / "out.jsonl"
    sink = JsonlSink(JsonlConfig(path=out), SinkContext("out", folder, log, OutboxState(outbox)))
    worker = SinkWorker("out", sink, outbox)
    bus = Bus([Route(("bench",), ("out",))], {"out": outbox})
    produced = threading.Event()

    def drain() -> None:
        while not (produced.is_set() and outbox.depth == 0):
            if not worker.flush():
                time.sleep(0.005)

    built = Built(total)
    started = time.process_time()
    flusher = threading.Thread(target=drain)
    flusher.start()
    for chunk in built:
        bus.emit("bench", chunk)
    produced.set()
    flusher.join()
    elapsed = time.process_time() - started - built.seconds
    sink.close()
    with out.open("rb") as handle:
        lines = sum(1 for _ in handle)
    assert lines == total, (lines, total)
    assert outbox.status().sent_total == total
    return elapsed


def child(phase: str, total: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        if phase == "baseline":
            elapsed = baseline(total, Path(folder))
        else:
            elapsed = wattbridge(total, Path(folder), fsync=phase == "wattbridge")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb}))


def run(phase: str, total: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase", phase, "--readings", str(total)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side")
    parser.add_argument(
        "--phase", choices=["baseline", "wattbridge", "wattbridge-nofsync"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.phase:
        child(args.phase, args.readings)
        return
    # Alternate the sides and keep each one's best run, so a busy machine skews the
    # ratio as little as possible.
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.repeat):
        for phase in ("baseline", "wattbridge", "wattbridge-nofsync"):
            result = run(phase, args.readings)
            if phase not in best or result["seconds"] < best[phase]["seconds"]:
                best[phase] = result
    base = best["baseline"]
    base_rate = args.readings / base["seconds"]
    print(
        f"readings: {args.readings:,}, best of {args.repeat} runs each; readings per CPU second"
        " (building the readings not counted)"
    )
    print(
        f"{'baseline (SQLite executemany, one transaction)':<52} {base_rate:>10,.0f} readings/s"
        f"  peak {base['peak_mb']:.0f} MB"
    )
    for label, phase in (
        ("wattbridge, fsync = true (default)", "wattbridge"),
        ("wattbridge, fsync = false", "wattbridge-nofsync"),
    ):
        result = best[phase]
        rate = args.readings / result["seconds"]
        print(
            f"{label:<52} {rate:>10,.0f} readings/s  peak {result['peak_mb']:.0f} MB"
            f"  ratio {rate / base_rate:.2f}"
        )
    ratio = (args.readings / best["wattbridge"]["seconds"]) / base_rate
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(
        f"target (issue 17): fsync = true ratio >= {TARGET_RATIO:.2f}: {verdict} ({ratio:.2f});"
        " peak memory < 150 MB"
    )


if __name__ == "__main__":
    main()
