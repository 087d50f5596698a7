"""Benchmark: one big CSV file through the csv-folder source into the jsonl sink.

A real ``python -m wattbridge run`` child process watches an inbox; the file (EnergyData
import format, one datastream, ``--rows`` rows) is dropped in with a rename and timed
until it is in done/ (every reading durable in the outbox) and until the outbox is
empty (every reading in the jsonl file, fsynced). Beside it, in the same run: the same
file read with ``csv.reader`` alone (the floor any Python CSV import stands on), and the
peak memory (ru_maxrss) of the child beside that of an idle child with the same config.

    /work/venv/bin/python bench/csv_folder_throughput.py            # 1,000,000 rows
    /work/venv/bin/python bench/csv_folder_throughput.py --rows 100000
"""

from __future__ import annotations

import argparse
import csv
import logging
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

CONFIG = """
[wattbridge]
state_dir = "state"
log_level = "warning"

[sources.folder]
plugin = "csv-folder"
inbox = "inbox"
settle = "0.2s"
finished_after = "0.5s"
scan_interval = "0.1s"

[sinks.out]
plugin = "jsonl"
path = "out.jsonl"

[[routes]]
from = "folder"
to = "out"
"""


def make_file(path: Path, rows: int) -> int:
    """Write the test file; returns its size in bytes."""
    base = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(";meter/power\r\n")
        for n in range(rows):
            ms = base + n * 1000
            seconds, millis = divmod(ms, 1000)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
            out.write(f"{stamp}.{millis:03d}Z;{1000 + (n % 5000) / 10}\r\n")
    return path.stat().st_size


def csv_reader_alone(path: Path) -> tuple[int, float]:
    """Rows and seconds for csv.reader over the file, nothing else."""
    started = time.perf_counter()
    count = 0
    with path.open(encoding="utf-8", newline="") as handle:
        for _row in csv.reader(handle, delimiter=";"):
            count += 1
    return count - 1, time.perf_counter() - started


def source_alone(path: Path, folder: Path, rows: int) -> float:
    """Seconds for the csv-folder importer (hash, check, emit) to put the file into a
    real outbox in this process, no sink draining it: the source's own share."""
    from wattbridge._outbox import Outbox
    from wattbridge._plugins import load_plugins
    from wattbridge.testing import plugin_config
    from wattbridge_plugins.sources.csv_folder.importer import Importer
    from wattbridge_plugins.sources.csv_folder.ledger import Ledger

    inbox = folder / "alone"
    inbox.mkdir()
    config = plugin_config(load_plugins(), "sources", "csv-folder", folder, inbox=str(inbox))
    ledger = Ledger(folder / "alone-state" / "ledger.sqlite")
    outbox = Outbox(folder / "alone-state" / "outbox.sqlite")
    importer = Importer(
        config, ledger, folder / "alone-state", logging.getLogger("bench"), "bench",
        threading.Event(),
    )  # fmt: skip
    path.rename(inbox / path.name)
    started = time.perf_counter()
    importer.run(inbox / path.name, lambda readings: outbox.put(list(readings)))
    seconds = time.perf_counter() - started
    assert outbox.depth == rows, (outbox.depth, rows)
    (inbox / "done" / path.name).rename(path)
    outbox.close()
    ledger.close()
    return seconds


def start_child(folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "wattbridge", "run", "-c", str(folder / "wattbridge.toml")],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=(folder / "log.txt").open("ab"),
    )


def stop_child(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(60)


def queued(folder: Path) -> int:
    from wattbridge.testing import outbox_depth

    return outbox_depth(folder / "state" / "outbox" / "out.sqlite") or 0


def wait_for(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def peak_rss_mib() -> float:
    """Peak resident memory of the largest child waited for so far (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="csv-folder-bench-") as temp:
        folder = Path(temp)
        (folder / "wattbridge.toml").write_text(CONFIG, encoding="utf-8")
        (folder / "inbox").mkdir()
        staged = folder / "big.csv"
        size = make_file(staged, args.rows)
        rows, reader_seconds = csv_reader_alone(staged)
        assert rows == args.rows

        idle = start_child(folder)
        time.sleep(2.0)
        stop_child(idle)
        idle_rss = peak_rss_mib()

        child = start_child(folder)
        try:
            wait_for((folder / "inbox" / "done").exists, 30, "the source to start")
            dropped = time.perf_counter()
            staged.rename(folder / "inbox" / "big.csv")
            wait_for((folder / "inbox" / "done" / "big.csv").exists, 3600, "done/")
            in_outbox = time.perf_counter() - dropped
            wait_for(lambda: queued(folder) == 0, 3600, "the outbox to drain")
            end_to_end = time.perf_counter() - dropped
        finally:
            stop_child(child)
        run_rss = peak_rss_mib()
        with (folder / "out.jsonl").open("rb") as out:
            delivered = sum(1 for _ in out)
        # In this process, and after the children: a child forked from a bigger parent
        # would count the parent's pages in its peak memory.
        (folder / "inbox" / "done" / "big.csv").rename(staged)
        alone_seconds = source_alone(staged, folder, rows)

    reader_rate = rows / reader_seconds
    source_rate = rows / in_outbox
    e2e_rate = rows / end_to_end
    print(f"file: {rows:,} rows, {size / 1e6:.1f} MB (EnergyData import format)")
    print(
        f"csv.reader alone (baseline):     {reader_rate:12,.0f} rows/s   ({reader_seconds:.2f} s)"
    )
    alone_rate = rows / alone_seconds
    print(
        f"importer alone into an outbox: {alone_rate:12,.0f} readings/s ({alone_seconds:.2f} s)"
        f"   ratio to baseline {alone_rate / reader_rate:.3f}"
    )
    print(
        f"csv-folder, drop -> done/:      {source_rate:12,.0f} readings/s ({in_outbox:.2f} s)"
        f"   ratio to baseline {source_rate / reader_rate:.3f}"
    )
    print(
        f"csv-folder -> jsonl, end to end: {e2e_rate:11,.0f} readings/s ({end_to_end:.2f} s)"
        f"   ratio to baseline {e2e_rate / reader_rate:.3f}"
    )
    print(f"readings in out.jsonl: {delivered:,} (expected {rows:,})")
    print(
        f"peak RSS of the wattbridge process: {run_rss:.0f} MiB; idle (same config, no file): "
        f"{idle_rss:.0f} MiB; ratio {run_rss / idle_rss:.2f}"
    )
    if delivered < rows:
        raise SystemExit("readings are missing")


if __name__ == "__main__":
    main()
