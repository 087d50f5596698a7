"""A datalogger appending to the file it holds open, while `wattbridge run` runs.

Real processes: the logger is a Python process that opens its daily file once and
appends a row every ~1.5 s, pausing in the middle of each line (as a slow serial
logger does), and holds the file open for a while after its last row, which has no
line end; wattbridge is `python -m wattbridge run` with the jsonl sink. The test
SIGKILLs wattbridge in the middle of the file and starts it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from wattbridge.testing import wait_until

ROWS = 12
FINISHED_AFTER = 2.0
HOLD = 5.0
"""Seconds the logger keeps its file open after the last row: longer than finished_after."""

LOGGER = r"""
import sys, time
path, rows, hold = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
with open(path, "w", encoding="utf-8") as log:
    log.write(";logger/power\n")
    log.flush()
    for n in range(rows):
        time.sleep(1.0)
        # A pause inside the line: '...Z;100' now, '3.25' later.
        log.write(f"2026-01-01T00:{n:02d}:00.000Z;10{n:02d}")
        log.flush()
        time.sleep(0.5)
        log.write(".25" + ("\n" if n < rows - 1 else ""))  # the last row has no line end
        log.flush()
        print(n, time.monotonic(), flush=True)
    time.sleep(hold)  # idle longer than finished_after, but still open for writing
print("closed", time.monotonic(), flush=True)
"""


def expected_rows() -> list[tuple[str, float]]:
    return [(f"2026-01-01T00:{n:02d}:00+00:00", float(f"10{n:02d}.25")) for n in range(ROWS)]


def config(tmp_path: Path) -> Path:
    path = tmp_path / "wattbridge.toml"
    path.write_text(
        f"""
[wattbridge]
state_dir = "state"

[sources.logger]
plugin = "csv-folder"
inbox = "inbox"
format = "energydata"
settle = "0.2s"
scan_interval = "0.1s"
finished_after = "{FINISHED_AFTER}s"

[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
flush_interval = "0.1s"

[[routes]]
from = "logger"
to = "out"
""",
        encoding="utf-8",
    )
    return path


def delivered(out: Path) -> list[tuple[str, float]]:
    if not out.exists():
        return []
    rows = []
    for line in out.read_text(encoding="utf-8").splitlines():
        reading = json.loads(line)
        rows.append((reading["timestamp"], reading["value"]))
    return rows


def test_a_logger_appending_to_an_open_file_loses_nothing_through_a_sigkill(tmp_path: Path, csv):
    config_path = config(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    log_file = inbox / "logger.csv"
    out = tmp_path / "out.jsonl"
    logger = subprocess.Popen(
        [sys.executable, "-c", LOGGER, str(log_file), str(ROWS), str(HOLD)],
        stdout=subprocess.PIPE,
        text=True,
    )
    wattbridge = csv.start_run(config_path)
    try:
        # A few rows in, kill wattbridge while the logger pauses inside a line.
        wait_until(lambda: len(delivered(out)) >= 4, timeout=60, message="four rows")
        assert not (inbox / "done" / "logger.csv").exists()
        time.sleep(1.2)  # the logger is now between the halves of a line
        wattbridge.send_signal(signal.SIGKILL)
        wattbridge.wait(10)
        before_restart = delivered(out)
        assert 4 <= len(before_restart) < ROWS
        time.sleep(2.0)  # the logger goes on meanwhile
        wattbridge = csv.start_run(config_path)

        # Every row, with its full value, as its line completes; the file stays put.
        wait_until(lambda: len(delivered(out)) >= ROWS - 1, timeout=60, message="all rows")
        # Idle for longer than finished_after while the logger still holds the file
        # open (it sleeps HOLD seconds after its last row): never moved meanwhile.
        while logger.poll() is None:
            assert log_file.exists(), "moved to done/ while the logger held it open"
            time.sleep(0.1)
        lines = [line.split() for line in logger.stdout]  # type: ignore[union-attr]
        closed = float(lines[-1][1])
        last_row = float(lines[-2][1])
        # Idle longer than finished_after while still open for writing: not moved.
        assert closed - last_row >= HOLD - 0.5
        moved = wait_until(
            lambda: (inbox / "done" / "logger.csv").exists() and time.monotonic(),
            timeout=60,
            interval=0.05,
            message="the file in done/",
        )
        assert moved - closed >= 0 and moved - last_row >= FINISHED_AFTER
        # The last row had no line end: imported only once the file was final.
        wait_until(lambda: len(delivered(out)) >= ROWS, timeout=30, message="the last row")
    finally:
        if logger.poll() is None:
            logger.kill()
        wattbridge.send_signal(signal.SIGTERM)
        wattbridge.wait(30)
    rows = delivered(out)
    assert sorted(rows) == expected_rows(), rows  # none lost, none twice, none cut short
    assert (inbox / "done" / "logger.csv").read_text().count("\n") == ROWS
    log = (tmp_path / "log.txt").read_text()
    assert os.path.getsize(out) > 0 and "logger.csv: 12 row(s)" in log, log[-3000:]
