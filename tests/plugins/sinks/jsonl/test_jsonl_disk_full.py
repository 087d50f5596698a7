"""The jsonl sink on a real full disk (a small tmpfs): a batch that does not fit is cut
off again, so the file never holds a torn line; once space returns every reading is
written, once."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattbridge.testing import (
    SmallDisk,
    start_wattbridge,
    stop_wattbridge,
    wait_until,
    wattbridge_status,
)

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
    status: dict[str, Any] = wattbridge_status(config)["sinks"]["out"] or {}
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
    log = tmp_path / "run.log"
    process = start_wattbridge(config, log=log)
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
        code = stop_wattbridge(process)
    assert code == 0, log.read_text(errors="replace")[-3000:]
    written = [json.loads(line) for line in lines(out)]  # every line whole JSON
    keys = [(r["stream"], r["timestamp"]) for r in written]
    assert len(keys) == len(set(keys)) == COUNT
