"""Issue 14, item 5: a slow answer no longer holds the sink. Against the sandbox's
trickle fault (the request is stored, then its answer comes a byte a second, so no
single read ever times out) and its hang fault."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from wattbridge import Reading
from wattbridge.testing import wait_until


def quarter_hours(count):
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=40)
    return [Reading("s1", start + timedelta(minutes=15 * n), 1000.0 + n) for n in range(count)]


def keys(sandbox, **extra):
    token = sandbox.tokens.get("sender-1") or sandbox.add_sender("sender-1")
    return {"url": sandbox.url, "senders": {"sender-1": {"token": token, "meters": {"s1": "M1"}}},
            **extra}  # fmt: skip


def test_a_trickled_answer_ends_at_the_request_deadline(sandbox, clock, make_sink):
    sandbox.add_meters(["M1"])
    running = make_sink(clock, **keys(sandbox, timeout="2s"))
    running.queue(quarter_hours(4))
    sandbox.fail_next(1, "trickle", seconds=1.0)  # ~60 bytes of answer: about a minute
    started = time.monotonic()
    running.worker.flush()
    took = time.monotonic() - started
    assert took < 8, f"the send took {took:.1f}s with a 2s deadline"
    assert "no complete answer within 2s" in running.outbox.status().last_error
    assert running.outbox.depth == 4  # kept, to be sent again (the platform keeps one)


def test_interrupt_cuts_a_hanging_request_within_a_second(sandbox, clock, make_sink):
    sandbox.add_meters(["M1"])
    running = make_sink(clock, **keys(sandbox, timeout="10m"))
    running.queue(quarter_hours(4))
    sandbox.fail_next(1, "hang", seconds=3600)
    flushing = threading.Thread(target=running.worker.flush)
    flushing.start()
    wait_until(lambda: len(sandbox.requests()) == 1, timeout=15)
    started = time.monotonic()
    running.worker.sink.interrupt()
    flushing.join(10)
    assert not flushing.is_alive()
    assert time.monotonic() - started < 2
    assert running.outbox.depth == 4


def config_text(sandbox, state_dir, backlog):
    token = sandbox.add_sender("sender-1")
    return f"""
[wattbridge]
state_dir = "{state_dir}"
[sources.backlog]
plugin = "replay"
path = "{backlog}"
rate = 0
[sinks.en]
plugin = "energinet"
url = "{sandbox.url}"
flush_interval = "100ms"
timeout = "10m"
[sinks.en.senders.sender-1]
token = "{token}"
meters = {{ "s1" = "M1" }}
[[routes]]
from = "backlog"
to = "en"
"""


def test_sigterm_is_honoured_within_seconds_while_an_answer_trickles(tmp_path, sandbox):
    sandbox.add_meters(["M1"])
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    backlog = tmp_path / "backlog.jsonl"
    backlog.write_text(
        "".join(
            json.dumps({"stream": "s1", "timestamp": (start + timedelta(hours=n)).isoformat(),
                        "value": n}) + "\n"
            for n in range(10)
        )
    )  # fmt: skip
    config = tmp_path / "w.toml"
    config.write_text(config_text(sandbox, tmp_path / "state", backlog))
    config.chmod(0o600)
    sandbox.fail_next(1, "trickle", seconds=1.0)
    env = {**os.environ, "WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "wattbridge", "--log-level", "info", "run", "-c", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            lambda: len(sandbox.requests()) == 1, timeout=30,
            message="the request whose answer trickles",
        )  # fmt: skip
        # Logged once stored, before its answer trickles out (about a minute's worth).
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=60)
        took = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    assert process.returncode == 0, errors
    assert took < 10, f"SIGTERM took {took:.1f}s while the platform trickled its answer"
    assert "stopping: the request was cut short" in errors
