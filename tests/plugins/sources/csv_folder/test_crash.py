"""SIGKILL while a file is half imported: the restart finishes it and nothing is lost.

Real processes (``python -m wattbridge run``), a real outbox and the jsonl sink; the
test watches the source's ledger to kill the process in the middle of the file."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
from pathlib import Path

import pytest

from wattbridge.testing import wait_until

ROWS = 200_000
CHUNK = 2000


def config(tmp_path: Path) -> Path:
    path = tmp_path / "wattbridge.toml"
    path.write_text(
        f"""
[wattbridge]
state_dir = "state"

[sources.folder]
plugin = "csv-folder"
inbox = "inbox"
format = "wide"
delimiter = ","
timestamp_format = "epoch_s"
settle = "0.1s"
finished_after = "0.5s"
scan_interval = "0.05s"
chunk = {CHUNK}

[sinks.out]
plugin = "jsonl"
path = "out.jsonl"

[[routes]]
from = "folder"
to = "out"
""",
        encoding="utf-8",
    )
    return path


def ledger_row(state: Path) -> tuple[str, int] | None:
    """("importing", rows emitted) while a file is followed, then (status, rows emitted)."""
    path = state / "sources" / "folder" / "ledger.sqlite"
    if not path.exists():
        return None
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute(
                "SELECT 'importing', emitted FROM follows"
                " UNION ALL SELECT status, emitted FROM files"
            ).fetchone()
        finally:
            db.close()
    except sqlite3.OperationalError:
        return None  # not created yet


@pytest.mark.slow
def test_sigkill_mid_file_then_restart_delivers_every_row(tmp_path: Path, csv):
    config_path = config(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    base = 1_767_225_600
    csv.write(
        inbox / "big.csv",
        "timestamp,power\n" + "".join(f"{base + n},{n}\n" for n in range(ROWS)),
    )
    state = tmp_path / "state"
    process = csv.start_run(config_path)
    try:
        row = wait_until(
            lambda: (r := ledger_row(state)) and r[1] >= 3 * CHUNK and r,
            timeout=60,
            interval=0.01,
            message="the import to be under way",
        )
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    status, emitted = ledger_row(state) or ("", 0)
    assert status == "importing" and 0 < emitted < ROWS, (row, status, emitted)
    assert (inbox / "big.csv").exists()  # not acknowledged: still in the inbox

    process = csv.start_run(config_path)
    try:
        csv.wait_for_path(inbox / "done" / "big.csv", timeout=120)
        out = tmp_path / "out.jsonl"
        wait_until(
            lambda: len(set(out.read_text().splitlines())) >= ROWS,
            timeout=60,
            message="every reading in out.jsonl",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    lines = csv.jsonl(tmp_path / "out.jsonl")
    values = [line["value"] for line in lines]
    assert set(values) == set(range(ROWS))  # nothing lost
    # Repeated: at most the chunk in flight at the kill, plus what the sink had written
    # but not yet acknowledged in its outbox.
    assert len(values) - ROWS <= 2 * CHUNK + 10_000
    log = (tmp_path / "log.txt").read_text()
    assert "resuming after" in log, log[-2000:]
    assert os.path.getsize(tmp_path / "out.jsonl") > 0
    assert ledger_row(state)[0] == "done"  # type: ignore[index]


def test_garbage_files_never_take_the_process_down(tmp_path: Path, csv):
    """Random bytes and mangled CSV dropped into a running `wattbridge run`: every file
    ends in done/ or failed/ (with its report), and the process is still running."""
    config_path = config(tmp_path)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rng = random.Random(4)
    good = "timestamp,power\n" + "".join(f"{1_767_225_600 + n},{n}\n" for n in range(50))
    files = {
        f"g{n:02d}.csv": bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 2000)))
        for n in range(8)
    }
    for n in range(8):  # good files with bytes flipped, cut or repeated
        data = bytearray(good.encode())
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.choice(b',"\n\r\x00\xff;x')
        files[f"m{n:02d}.csv"] = bytes(data[: rng.randrange(len(data) // 2, len(data) + 1)])
    for n in range(2):  # and good ones, which must get through beside the garbage
        files[f"ok{n}.csv"] = good.replace("\n", f"{n}\n").encode()
    process = csv.start_run(config_path)
    try:
        for name, data in files.items():
            (inbox / f".{name}").write_bytes(data)
            (inbox / f".{name}").rename(inbox / name)

        def all_settled() -> bool:
            return all(
                (inbox / "done" / name).exists() or (inbox / "failed" / name).exists()
                for name in files
            )

        wait_until(all_settled, timeout=60, message="every file in done/ or failed/")
        wait_until(lambda: len(csv.jsonl(tmp_path / "out.jsonl")) >= 100, timeout=30)
        assert process.poll() is None, "the process died"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0
    assert (inbox / "done" / "ok0.csv").exists() and (inbox / "done" / "ok1.csv").exists()
    for name, data in files.items():
        folder = inbox / "done" if (inbox / "done" / name).exists() else inbox / "failed"
        assert (folder / name).read_bytes() == data  # moved, never changed
        if folder.name == "failed":
            assert (folder / f"{name}.error.txt").read_text().count(f"{name}:") >= 1
