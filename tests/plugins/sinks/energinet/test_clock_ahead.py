"""One `wattbridge run` with the clock a day ahead (libfaketime) must not silence
energinet for a day: the next run, with the right clock, takes the stamps it left in
the future as now, warns, and sends within one window.

The window is short (loopback only) and the sandbox's is the same, so the test runs
in real time; libfaketime moves only the first run's clock (Debian's ``faketime``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wattbridge import Reading
from wattbridge.testing import program_environment, start_wattbridge, stop_wattbridge, wait_until

WINDOW = 2.0
FAKETIME_HINT = "faketime is not installed: apt-get install faketime (Debian/Ubuntu)"


def write_readings(path: Path, first: datetime, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            reading = Reading("meter", first + timedelta(minutes=15 * n), float(n))
            out.write(json.dumps(reading.to_dict()) + "\n")


def config_text(sandbox: Any, backlog: Path, state_dir: Path) -> str:
    token = sandbox.add_sender("sender")
    return f"""
[wattbridge]
state_dir = "{state_dir}"
[sources.backlog]
plugin = "replay"
path = "{backlog}"
rate = 0
[sinks.en]
plugin = "energinet"
flush_interval = "100ms"
url = "{sandbox.url}"
request_interval = "{int(WINDOW * 1000)}ms"
request_margin = "250ms"
[sinks.en.senders.sender]
token = "{token}"
meters = {{ "meter" = "M1" }}
[[routes]]
from = "backlog"
to = "en"
"""


def run(config: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    # The wall clock only: libfaketime's moved monotonic clock hangs timed waits.
    env = program_environment({"FAKETIME_DONT_FAKE_MONOTONIC": "1"})
    return subprocess.run(
        [
            *prefix,
            sys.executable,
            "-m",
            "wattbridge",
            "run",
            "-c",
            str(config),
            "--until-idle",
            "1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_a_run_with_the_clock_a_day_ahead_does_not_silence_the_next(
    tmp_path: Path, sandbox: Any
) -> None:
    faketime = shutil.which("faketime")
    assert faketime is not None, FAKETIME_HINT
    sandbox.window = WINDOW
    sandbox.add_meters(["M1"])
    backlog = tmp_path / "backlog.jsonl"
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    write_readings(backlog, start, 40)
    config = tmp_path / "wattbridge.toml"
    config.write_text(config_text(sandbox, backlog, tmp_path / "state"), encoding="utf-8")
    config.chmod(0o600)

    ahead = run(config, faketime, "-f", "+1d")
    assert ahead.returncode == 0, ahead.stderr
    assert len(sandbox.values().get("M1", {})) == 40  # sent, with stamps a day ahead

    # New readings for the next run, with the right clock.
    write_readings(backlog, start + timedelta(days=1), 40)
    (tmp_path / "state" / "sources" / "backlog" / "progress.json").unlink()
    sent_from = sandbox.clock.now()
    log = tmp_path / "right.log"
    right = start_wattbridge(config, "--until-idle", "1", log=log)
    try:
        wait_until(
            lambda: len(sandbox.values().get("M1", {})) == 80,
            timeout=60,
            message="the second run's readings stored within a window, not a day",
        )
        code = right.wait(60)
    finally:
        stop_wattbridge(right)
    err = log.read_text(errors="replace")
    assert code == 0, err
    assert "ahead of the clock now" in err
    assert [r.status for r in sandbox.requests() if r.status != 200] == []
    second = [r.at for r in sandbox.requests() if r.at >= sent_from]
    assert second and second[0] - sent_from < WINDOW + 30
