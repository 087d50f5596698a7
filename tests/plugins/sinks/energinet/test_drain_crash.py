"""End to end: a month of quarter-hour readings for 50 meters drained through a real
`wattbridge run` process into the sandbox, SIGKILLed mid-drain and restarted: no 429
ever, every request within 0.5 MB, every value stored once.

The windows are short (2.5 s, loopback only) and the sandbox's window is the same, so
the restart rule is tested in real time, not with a moved clock.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from wattbridge import Reading
from wattbridge.testing import wait_until

WINDOW = 2.5
METERS = 50
SENDERS = 2
DAYS = 30


def write_backlog(path):
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=DAYS + 1
    )
    expected: dict[str, dict[str, float]] = {}
    with path.open("w", encoding="utf-8") as out:
        for step in range(DAYS * 96):
            stamp = start + timedelta(minutes=15 * step)
            key = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            for meter in range(METERS):
                value = round(100 * meter + step * 0.25, 2)
                reading = Reading(f"meter{meter}", stamp, value)
                out.write(json.dumps(reading.to_dict()) + "\n")
                expected.setdefault(f"M{meter:04d}", {})[key] = value
    return expected


def config_text(sandbox, backlog, state_dir):
    lines = [
        "[wattbridge]",
        f'state_dir = "{state_dir}"',
        "[sources.backlog]",
        'plugin = "replay"',
        f'path = "{backlog}"',
        "rate = 0",
        "chunk = 10000",
        "[sinks.en]",
        'plugin = "energinet"',
        'flush_interval = "100ms"',
        f'url = "{sandbox.url}"',
        f'request_interval = "{int(WINDOW * 1000)}ms"',
        'request_margin = "250ms"',
    ]
    for sender in range(SENDERS):
        token = sandbox.add_sender(f"sender{sender}")
        meters = ", ".join(
            f'"meter{m}" = "M{m:04d}"' for m in range(METERS) if m % SENDERS == sender
        )
        lines += [f"[sinks.en.senders.sender{sender}]", f'token = "{token}"']
        lines += [f"meters = {{ {meters} }}"]
    lines += ["[[routes]]", 'from = "backlog"', 'to = "en"']
    return "\n".join(lines) + "\n"


def start(config):
    env = {**os.environ, "WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "wattbridge", "--log-level", "warning", "run", "-c", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_backlog_drains_across_a_sigkill_without_a_429(tmp_path, sandbox):
    sandbox.window = WINDOW
    sandbox.add_meters(f"M{m:04d}" for m in range(METERS))
    expected = write_backlog(tmp_path / "backlog.jsonl")
    total = sum(len(v) for v in expected.values())
    assert total == METERS * DAYS * 96
    config = tmp_path / "wattbridge.toml"
    config.write_text(config_text(sandbox, tmp_path / "backlog.jsonl", tmp_path / "state"))
    config.chmod(0o600)

    process = start(config)
    try:
        wait_until(
            lambda: sum(r.status == 200 for r in sandbox.requests()) >= 3,
            timeout=60,
            message="three stored requests before the kill",
        )
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        killed_at = sandbox.clock.now()
        last_before_kill = max(r.at for r in sandbox.requests())
        stored_at_kill = sandbox.store.count()
        assert 0 < stored_at_kill < total  # killed in the middle of the drain

        process = start(config)
        wait_until(
            lambda: sandbox.store.count() == total or process.poll() is not None,
            timeout=120,
            interval=0.5,
            message="the whole backlog stored",
        )
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    log = sandbox.requests()
    after = [r.at for r in log if r.at > killed_at]
    print(
        f"kill {killed_at - last_before_kill:.2f}s after the last request; first request "
        f"after the restart {after[0] - killed_at:.2f}s after the kill; {len(log)} requests"
    )
    assert [r.status for r in log if r.status != 200] == []  # no 429, nor anything else
    assert all(r.size <= 500_000 for r in log)
    for _sender, requests in itertools.groupby(
        sorted(log, key=lambda r: (r.sender, r.at)), key=lambda r: r.sender
    ):
        times = [r.at for r in requests]
        assert all(b - a >= WINDOW for a, b in itertools.pairwise(times))
    assert sandbox.values() == expected
