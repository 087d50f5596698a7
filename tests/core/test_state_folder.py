"""The state folder under real `wattbridge run` processes: one run per folder (a second
exits naming the holder), readers that work beside a run, and counters that are saved
while running, so `status` shows them and a SIGKILL keeps them."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

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
chunk = 50
start = "2026-01-01T00:00:00+00:00"
streams = ["a", "b"]
[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
flush_interval = "50ms"
[[routes]]
from = "gen"
to = "out"
"""


def write_config(folder: Path, count: int, rate: float = 0) -> Path:
    path = folder / "w.toml"
    path.write_text(CONFIG.format(count=count, rate=rate), encoding="utf-8")
    return path


def delivered(folder: Path) -> list[dict[str, Any]]:
    return jsonl_records(folder / "out.jsonl")


def test_a_second_run_on_one_state_folder_exits_naming_the_folder_and_the_holder(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, count=400, rate=200)  # two seconds of readings
    first = start_wattbridge(config, log=tmp_path / "first.log")
    try:
        wait_until(lambda: len(delivered(tmp_path)) > 0, timeout=30, message="a first delivery")
        second = start_wattbridge(config, log=tmp_path / "second.log")
        try:
            code = second.wait(30)
        finally:
            stop_wattbridge(second)
        err = (tmp_path / "second.log").read_text(errors="replace")
        assert code != 0
        assert str(tmp_path / "state") in err
        assert f"pid {first.pid}" in err
        # Readers work beside the run that holds the lock.
        assert wattbridge_status(config)["sinks"]["out"] is not None
        listed = wattbridge_command("deadletter", "list", "-c", str(config))
        assert listed.returncode == 0, listed.stderr
        wait_until(lambda: len(delivered(tmp_path)) >= 400, timeout=60, message="every reading")
    finally:
        stop_wattbridge(first)
    keys = [(r["stream"], r["timestamp"]) for r in delivered(tmp_path)]
    assert len(keys) == len(set(keys)) == 400  # queued once, by the one run


def test_the_lock_of_a_killed_run_does_not_block_the_next(tmp_path: Path) -> None:
    config = write_config(tmp_path, count=100000, rate=2000)
    log = tmp_path / "run.log"
    first = start_wattbridge(config, log=log)
    wait_until(lambda: len(delivered(tmp_path)) > 0, timeout=30, message="a first delivery")
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    again = start_wattbridge(config, log=log)
    try:
        before = len(delivered(tmp_path))
        wait_until(lambda: len(delivered(tmp_path)) > before, timeout=30, message="delivery")
        assert again.poll() is None
    finally:
        stop_wattbridge(again)


def test_counters_are_saved_while_running_and_survive_a_sigkill(tmp_path: Path) -> None:
    config = write_config(tmp_path, count=300)
    process = start_wattbridge(config, log=tmp_path / "run.log")
    try:

        def counted() -> int:
            counters = wattbridge_status(config)["runtime"].get("counters", {})
            return int(counters.get("source.gen.readings", 0))

        wait_until(lambda: counted() == 300, timeout=60, message="300 readings counted in status")
        assert process.poll() is None  # shown while it runs, not only after a clean stop
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    assert wattbridge_status(config)["runtime"]["counters"]["source.gen.readings"] == 300
