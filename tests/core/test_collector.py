"""The wattbridge command tunes the garbage collector before it runs a command (see
core/wattbridge/_collector.py for why; bench/bulk_speed.py measures the effect)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import contextlib, gc, io, json
from wattbridge._cli import main
before = gc.get_threshold()
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["plugins"])
print(json.dumps({"code": code, "before": before, "after": gc.get_threshold(),
                  "frozen": gc.get_freeze_count()}))
"""


def test_a_command_runs_with_startup_frozen_and_a_larger_young_generation() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["code"] == 0
    assert seen["before"][0] == 700  # Python's default, so the change below is ours
    assert seen["after"] == [20_000, *seen["before"][1:]]
    assert seen["frozen"] > 10_000  # the modules and plugins loaded at start-up
