"""The fault-injection run of bench/faults.py, short: SIGKILLs, a broker outage, the
sandbox's faults (429, 500, a hang, a trickle) and a full disk lose no reading and
repeat only what was in flight; while the disk is full nothing is sent at all (sent, it
could not be recorded as delivered, and would be sent again)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "bench" / "faults.py"


@pytest.mark.slow
def test_the_short_fault_run_loses_nothing() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--scenarios", "sigkill,broker,sandbox,diskfull",
         "--json"],
        capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    outcomes = {o["scenario"]: o for o in json.loads(result.stdout.splitlines()[-1])}
    assert sorted(outcomes) == ["broker", "diskfull", "sandbox", "sigkill"]
    for outcome in outcomes.values():
        assert outcome["sent"] == 600
        assert outcome["lost"] == 0, outcome
        assert outcome["arrived"] == 600, outcome
        # At-least-once: a kill or a lost answer repeats what was in flight, no more.
        assert outcome["duplicated"] <= 400, outcome
    assert "429" in outcomes["sandbox"]["note"] and "500" in outcomes["sandbox"]["note"]
    assert outcomes["diskfull"]["duplicated"] == 0, outcomes["diskfull"]
    assert "0 messages meanwhile" in outcomes["diskfull"]["note"], outcomes["diskfull"]
