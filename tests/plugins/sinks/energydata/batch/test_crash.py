"""SIGKILL of ``wattbridge run`` between each pair of import steps, then a restart: every
value ends up stored once, by exactly one import that carries the file."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wattbridge.testing import outbox_depth, wait_until
from wattbridge_plugins.common.energydata_csv import to_ms

COUNT = 300
START = datetime(2024, 1, 1, tzinfo=UTC)

CONFIG = """
[wattbridge]
state_dir = "state"
log_level = "debug"

[sources.gen]
plugin = "replay"
rate = 0
count = {count}
chunk = {count}
streams = ["my/topic", "house/power_w"]
start = "2024-01-01T00:00:00+00:00"
step = "1s"

[sinks.edk]
plugin = "energydata-batch"
url = "{url}"
token = {{env = "EDK_TOKEN"}}
datastreams = {{"my/topic" = "double", "house/power_w" = "double"}}
flush_interval = "100ms"
retry_initial = "50ms"
retry_max = "300ms"
poll_initial = "50ms"
poll_max = "200ms"
timeout = "20s"

[[routes]]
from = "gen"
to = "edk"
"""


def expected_values(sandbox: Any) -> dict[tuple[int, int], float]:
    """What the replay source generates: reading n at START + n s, cycling streams."""
    ids = [sandbox.store.resolve("my/topic").id, sandbox.store.resolve("house/power_w").id]
    return {
        (ids[n % 2], to_ms(START) + n * 1000): round(1000 + 500 * math.sin(n / 60), 3)
        for n in range(COUNT)
    }


class Runner:
    """Starts and kills ``wattbridge run`` on a config in tmp_path."""

    def __init__(self, tmp_path: Path, sandbox: Any) -> None:
        self.config = tmp_path / "wattbridge.toml"
        self.config.write_text(CONFIG.format(count=COUNT, url=sandbox.url), encoding="utf-8")
        self.log = tmp_path / "run.log"
        self.env = {**os.environ, "EDK_TOKEN": sandbox.tokens["write"]}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wattbridge", "run", "-c", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)

    def queued(self) -> int:
        depth = outbox_depth(self.config.parent / "state" / "outbox" / "edk.sqlite")
        return -1 if depth is None else depth


def _polls(sandbox: Any) -> int:
    return sandbox.arrived("GET", r"/import/\d+$")


# Each step: how to make the platform stop the sink there, and when it got there.
STEPS: dict[str, tuple[Callable[[Any], None], Callable[[Any], bool]]] = {
    "before create": (
        lambda s: s.faults.hang(method="POST", path="/api/v1/import$"),
        lambda s: s.arrived("POST", "/api/v1/import$") >= 1,
    ),
    "create answered, answer lost": (
        lambda s: s.faults.hang(method="POST", path="/api/v1/import$", after=True),
        lambda s: len(s.imports()) >= 1,
    ),
    "upload URL answer lost": (
        lambda s: s.faults.hang(path="/upload_url", after=True),
        lambda s: s.arrived("GET", "/upload_url") >= 1,
    ),
    "file uploaded, answer lost": (
        lambda s: s.faults.hang(method="PUT", path="/s3/", after=True),
        lambda s: any(i["uploaded"] for i in s.imports()),
    ),
    "validate sent, answer lost": (
        lambda s: s.faults.hang(path="/validate", after=True),
        lambda s: any(i["status"] != "stored" for i in s.imports()),
    ),
    "polling while validating": (
        lambda s: s.faults.hold("validating"),
        lambda s: any(i["status"] == "validating" for i in s.imports()) and _polls(s) >= 2,
    ),
    "ingest sent, answer lost": (
        lambda s: s.faults.hang(path="/ingest", after=True),
        lambda s: any(i["status"] in ("ingesting", "done") for i in s.imports()),
    ),
    "polling while ingesting": (
        lambda s: s.faults.hold("ingesting"),
        lambda s: any(i["status"] == "ingesting" for i in s.imports()) and _polls(s) >= 3,
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize("step", list(STEPS))
def test_a_kill_at_any_step_resumes_the_same_import(
    tmp_path: Path, sandbox: Any, step: str
) -> None:
    arrange, reached = STEPS[step]
    arrange(sandbox)
    runner = Runner(tmp_path, sandbox)
    runner.start()
    try:
        wait_until(lambda: reached(sandbox), 30, message=f"the sink to reach {step!r}")
        runner.kill()
        sandbox.faults.clear()
        runner.start()
        expected = expected_values(sandbox)
        wait_until(lambda: sandbox.store.count_values() >= len(expected), 60, message="values")
        wait_until(lambda: runner.queued() == 0, 30, message="an empty outbox")
    except BaseException:
        print(runner.log.read_text(errors="replace")[-5000:])
        raise
    finally:
        runner.stop()
    assert sandbox.stored() == expected
    # Debug logging was on (urllib3's requests included): the token is in no line.
    assert sandbox.tokens["write"] not in runner.log.read_text(errors="replace")
    with_file = [i for i in sandbox.imports() if i["uploaded"]]
    assert len(with_file) == 1 and with_file[0]["status"] == "done"
    assert with_file[0]["ingested_lines"] == COUNT
    # Only a create whose answer was lost may leave an empty import behind.
    empty = [i for i in sandbox.imports() if not i["uploaded"]]
    assert len(empty) == (1 if step == "create answered, answer lost" else 0)
