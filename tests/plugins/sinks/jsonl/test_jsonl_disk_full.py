"""The jsonl sink on a real full disk (a small tmpfs): a batch that does not fit is cut
off again, so the file never holds a torn line; once space returns every reading is
written, once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattbridge.testing import SmallDisk, wait_until

COUNT = 3000

CONFIG = """
[wattbridge]
state_dir = "{state}"
[sources.gen]
plugin = "replay"
rate = 0
count = {count}
chunk = 500
start = "2026-01-01T00:00:00+00:00"
streams = ["a", "b"]
[sinks.out]
plugin = "jsonl"
path = "{out}"
batch = 300
flush_interval = "50ms"
retry_initial = "100ms"
retry_max = "500ms"
[[routes]]
from = "gen"
to = "out"
"""


def sink_status(config: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "wattbridge", "status", "--json", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)["sinks"]["out"] or {}
    return status


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True) if path.exists() else []


def test_a_full_disk_leaves_no_torn_line_and_loses_nothing(
    tmp_path: Path, small_disk: Callable[[Path, int], SmallDisk]
) -> None:
    disk = small_disk(tmp_path / "disk", 512 * 1024)
    out = disk.path / "out.jsonl"
    config = tmp_path / "w.toml"
    config.write_text(CONFIG.format(state=tmp_path / "state", out=out, count=COUNT))
    disk.fill(leave=20_000)  # room for a part of the first batch of 300 lines
    process = subprocess.Popen(
        [sys.executable, "-m", "wattbridge", "run", "-c", str(config)],
        env={**os.environ, "WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: "No space left" in (sink_status(config).get("last_error") or ""),
            timeout=60,
            message="the write to fail for want of space",
        )
        torn = [line for line in lines(out) if not line.endswith("\n")]
        assert torn == [], f"a torn line after the failed write: {torn[0][-80:]!r}"
        assert sink_status(config)["depth"] == COUNT  # nothing counted as written
        disk.free()
        wait_until(lambda: len(lines(out)) >= COUNT, timeout=60, message="every reading")
        wait_until(lambda: sink_status(config)["depth"] == 0, timeout=30, message="acks")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    written = [json.loads(line) for line in lines(out)]  # every line whole JSON
    keys = [(r["stream"], r["timestamp"]) for r in written]
    assert len(keys) == len(set(keys)) == COUNT
