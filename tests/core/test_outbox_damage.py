"""An outbox deleted or damaged under real `wattbridge run` processes: a deleted one is
noticed (its file's identity changed), its sink stops with an error and what it held is
saved; a damaged one stops only its sink, `status` names it, and `wattbridge outbox
recover` salvages what SQLite can still read, keeping the damaged file aside."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from wattbridge._outbox import Outbox
from wattbridge.testing import (
    jsonl_records,
    start_wattbridge,
    stop_wattbridge,
    wait_until,
    wattbridge_command,
    wattbridge_status,
)

CONFIG = """
[wattbridge]
state_dir = "state"
[sources.gen]
plugin = "replay"
rate = {rate}
count = {count}
chunk = 100
start = "2026-01-01T00:00:00+00:00"
streams = ["x", "y"]
[sinks.a]
plugin = "jsonl"
path = "a.jsonl"
flush_interval = "50ms"
[sinks.b]
plugin = "jsonl"
path = "{b_path}"
flush_interval = "50ms"
retry_initial = "100ms"
retry_max = "200ms"
[[routes]]
from = "gen"
to = ["a", "b"]
"""

MORE = """
[sources.more]
plugin = "replay"
rate = 0
count = 500
start = "2027-01-01T00:00:00+00:00"
streams = ["z"]
[[routes]]
from = "more"
to = "a"
"""


def write_config(folder: Path, *, count: int, rate: float, b_path: str, extra: str = "") -> Path:
    path = folder / "w.toml"
    path.write_text(CONFIG.format(count=count, rate=rate, b_path=b_path) + extra, "utf-8")
    return path


def depth(config: Path, sink: str) -> int:
    box = wattbridge_status(config)["sinks"][sink]
    return int(box["depth"]) if box and "depth" in box else 0


def test_an_outbox_deleted_while_running_stops_its_sink_and_keeps_what_it_held(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, count=100_000, rate=500, b_path="/dev/full")
    log = tmp_path / "run.log"
    process = start_wattbridge(config, log=log)
    box = tmp_path / "state" / "outbox" / "b.sqlite"
    try:
        wait_until(lambda: depth(config, "b") >= 300, timeout=60, message="readings in b")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{box}{suffix}").unlink(missing_ok=True)
        wait_until(
            lambda: "was deleted while running" in log.read_text(errors="replace"),
            timeout=30,
            message="the deletion logged",
        )
        errors = lambda: wattbridge_status(config)["runtime"].get("errors", {})  # noqa: E731
        wait_until(lambda: "sink.b.outbox" in errors(), timeout=30, message="status shows it")
        assert "b.sqlite was deleted" in errors()["sink.b.outbox"]["message"]
    finally:
        assert stop_wattbridge(process) == 0
    saved = sorted(box.parent.glob("b.sqlite.deleted-*"))
    assert len(saved) == 1, log.read_text(errors="replace")[-3000:]
    copy = Outbox(saved[0])
    try:
        held = {(r.stream, r.timestamp) for r in copy.iter_queued()}
    finally:
        copy.close()
    assert len(held) >= 300
    result = wattbridge_command(
        "outbox", "recover", "b", "--from", str(saved[0]), "-c", str(config)
    )
    assert result.returncode == 0, result.stderr
    recovered = Outbox(box)
    try:
        assert held <= {(r.stream, r.timestamp) for r in recovered.iter_queued()}
    finally:
        recovered.close()
    assert saved[0].exists()  # kept: recover never deletes what it read


def damage_a_page(path: Path) -> None:
    """Overwrite one page in the middle of the file with garbage (a bad sector)."""
    page = 4096
    pages = path.stat().st_size // page
    with path.open("r+b") as handle:
        handle.seek(page * (pages // 2))
        handle.write(os.urandom(page))


def intact(path: Path) -> bool:
    db = sqlite3.connect(path)
    try:
        return bool(db.execute("PRAGMA quick_check").fetchone()[0] == "ok")
    except sqlite3.DatabaseError:
        return False
    finally:
        db.close()


def test_a_damaged_outbox_stops_only_its_sink_and_is_recovered(tmp_path: Path) -> None:
    count = 4000
    config = write_config(tmp_path, count=count, rate=0, b_path="/dev/full")
    log = tmp_path / "run.log"
    first = start_wattbridge(config, log=log)
    try:
        wait_until(lambda: depth(config, "b") == count, timeout=60, message="b holds all")
        wait_until(lambda: len(jsonl_records(tmp_path / "a.jsonl")) == count, timeout=60)
    finally:
        assert stop_wattbridge(first) == 0
    box = tmp_path / "state" / "outbox" / "b.sqlite"
    damage_a_page(box)
    assert not intact(box)

    # The other sink (and a source feeding only it) runs; the damaged one is named.
    write_config(tmp_path, count=count, rate=0, b_path="/dev/full", extra=MORE)
    second = start_wattbridge(config, log=log)
    try:
        wait_until(
            lambda: len(jsonl_records(tmp_path / "a.jsonl")) == count + 500,
            timeout=60,
            message="sink a running beside the damaged b",
        )
        assert second.poll() is None
        damaged = wattbridge_status(config)["sinks"]["b"]["damaged"]
        assert str(box) in damaged and "outbox recover b" in damaged
        text = wattbridge_command("status", "-c", str(config))
        assert text.returncode == 2 and "DAMAGED" in text.stdout  # health: failing
        assert str(box) in log.read_text(errors="replace")
        # Recover refuses while the run holds the state folder.
        busy = wattbridge_command("outbox", "recover", "b", "-c", str(config))
        assert busy.returncode != 0 and f"pid {second.pid}" in busy.stderr
    finally:
        assert stop_wattbridge(second) == 0

    result = wattbridge_command("outbox", "recover", "b", "-c", str(config))
    assert "salvaged" in result.stdout, result.stderr
    kept = sorted(box.parent.glob("b.sqlite.damaged-*"))
    assert [p.name for p in kept if not p.name.endswith(("-wal", "-shm"))], "kept aside"
    salvaged = Outbox(box)
    try:
        readable = salvaged.depth
    finally:
        salvaged.close()
    assert 0 < readable <= count
    if readable < count:
        assert result.returncode == 1 and "unreadable" in result.stderr

    # Deliver what was salvaged: b now writes a real file.
    write_config(tmp_path, count=count, rate=0, b_path="b.jsonl", extra=MORE)
    third = start_wattbridge(config, "--until-idle", "1", log=log)
    assert third.wait(60) == 0
    delivered = jsonl_records(tmp_path / "b.jsonl")
    keys = {(r["stream"], r["timestamp"]) for r in delivered}
    assert len(keys) == len(delivered) == readable
    assert all(r["stream"] in ("x", "y") for r in delivered)
