"""The runtime: failures isolated and restarted, backpressure instead of loss, and a
SIGKILL mid-stream that loses nothing."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import attrs
import pytest

from wattbridge import Reading, SinkLimits, hookimpl
from wattbridge._config import load_config
from wattbridge._plugins import load_plugins
from wattbridge._runtime import Runtime
from wattbridge.testing import jsonl_records, wait_until

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@attrs.frozen
class FlakyConfig:
    fail_first: int = 0


class FlakyPolled:
    """Fails its first polls, then emits one reading a poll."""

    calls = 0

    def __init__(self, config, context):
        self.config = config
        self.context = context

    def poll(self):
        type(self).calls += 1
        # A part of the source (one of its devices) fails on odd polls.
        self.context.report_error("device 7", "timeout" if type(self).calls % 2 else None)
        self.context.count("polled", 1)
        if type(self).calls <= self.config.fail_first:
            raise OSError("meter not answering")
        return [Reading("p", datetime.now(UTC), type(self).calls)]


class DyingPushed:
    """A pushed source that crashes right after each start, counting starts."""

    starts = 0

    def __init__(self, config, context):
        self.stopped = threading.Event()

    def start(self, emit):
        type(self).starts += 1
        emit([Reading("d", T0, type(self).starts)])
        raise RuntimeError("websocket closed")

    def stop(self):
        self.stopped.set()


class BrokenSink:
    limits = SinkLimits(max_batch=100)

    def __init__(self, config, context):
        pass

    def send(self, batch):
        raise ConnectionError("platform down")


class TestPlugin:
    @staticmethod
    @hookimpl
    def wattbridge_register_sources(register):
        register("flaky", FlakyPolled, FlakyConfig)
        register("dying", DyingPushed, FlakyConfig)

    @staticmethod
    @hookimpl
    def wattbridge_register_sinks(register):
        register("broken", BrokenSink, FlakyConfig)


def runtime_for(tmp_path, text):
    path = tmp_path / "w.toml"
    path.write_text(text)
    registry = load_plugins([TestPlugin], entry_points=False)
    return Runtime(load_config(path, registry), registry)


def test_failing_sources_and_sinks_are_isolated_and_restarted(tmp_path):
    FlakyPolled.calls = 0
    DyingPushed.starts = 0
    out = tmp_path / "out.jsonl"
    runtime = runtime_for(
        tmp_path,
        f"""
[sources.meter]
plugin = "flaky"
fail_first = 1
interval = "100ms"
[sources.ws]
plugin = "dying"
[sinks.out]
plugin = "jsonl"
path = "{out}"
flush_interval = "100ms"
[sinks.dead]
plugin = "broken"
flush_interval = "100ms"
[[routes]]
from = ["meter", "ws"]
to = ["out", "dead"]
""",
    )
    runtime.start()
    try:
        # The flaky meter recovers after its backoff; the dying source is restarted.
        wait_until(lambda: any(r["stream"] == "p" for r in jsonl_records(out)), timeout=10)
        wait_until(lambda: DyingPushed.starts >= 2, timeout=10)
        assert runtime.stats.counters["source.meter.failures"] == 1
        assert runtime.stats.counters["source.ws.failures"] >= 1
        # The broken sink keeps everything queued, with its error, and holds nobody up.
        assert runtime.outboxes["dead"].depth >= 2
        assert runtime.outboxes["dead"].status().last_error == "ConnectionError: platform down"
    finally:
        runtime.stop()


def test_a_sink_that_cannot_open_is_retried_while_others_run(tmp_path):
    FlakyPolled.calls = 0
    out = tmp_path / "out.jsonl"
    blocked = tmp_path / "not-yet"
    blocked.write_text("a file where the sink wants a folder")
    runtime = runtime_for(
        tmp_path,
        f"""
[sources.meter]
plugin = "flaky"
interval = "50ms"
[sinks.out]
plugin = "jsonl"
path = "{out}"
flush_interval = "50ms"
[sinks.later]
plugin = "jsonl"
path = "{blocked}/later.jsonl"
flush_interval = "50ms"
[[routes]]
from = "meter"
to = ["out", "later"]
""",
    )
    runtime.start()
    try:
        wait_until(lambda: len(jsonl_records(out)) >= 3)
        assert "cannot open" in runtime.outboxes["later"].status().last_error
        queued = runtime.outboxes["later"].depth
        assert queued >= 3
        blocked.unlink()  # the folder can now be made: the sink opens on a later flush
        wait_until(lambda: runtime.outboxes["later"].depth == 0, timeout=15)
        assert len(jsonl_records(blocked / "later.jsonl")) >= queued
    finally:
        runtime.stop()


def test_a_full_outbox_skips_polls_and_loses_nothing(tmp_path):
    FlakyPolled.calls = 0
    runtime = runtime_for(
        tmp_path,
        """
[sources.meter]
plugin = "flaky"
interval = "50ms"
[sinks.dead]
plugin = "broken"
max_queue = 3
[[routes]]
from = "meter"
to = "dead"
""",
    )
    runtime.start()
    try:
        wait_until(lambda: runtime.stats.counters["source.meter.polls_skipped"] >= 3)
        assert runtime.outboxes["dead"].depth == 3
        polled = FlakyPolled.calls
        assert polled == 3  # polls stopped at the bound: nothing read and then dropped
        assert runtime.stats.errors["source.meter.device 7"]["message"] == "timeout"
        assert runtime.stats.counters["source.meter.polled"] == 3
        runtime.outboxes["dead"].ack(runtime.outboxes["dead"].take(1).ids)
        wait_until(lambda: FlakyPolled.calls == 4)  # room again: polled, and it cleared
        assert "source.meter.device 7" not in runtime.stats.errors
    finally:
        runtime.stop()


CONFIG = """
[wattbridge]
state_dir = "state"
[sources.gen]
plugin = "replay"
rate = 4000
count = {count}
chunk = 200
start = "2026-01-01T00:00:00+00:00"
streams = ["a", "b", "c"]
[sinks.out]
plugin = "jsonl"
path = "out.jsonl"
flush_interval = "50ms"
batch = 300
[[routes]]
from = "gen"
to = "out"
"""


def start_wattbridge(tmp_path):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wattbridge",
            "--log-level",
            "warning",
            "run",
            "-c",
            str(tmp_path / "w.toml"),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart_delivers_every_reading(tmp_path):
    count = 6000
    (tmp_path / "w.toml").write_text(CONFIG.format(count=count))
    out = tmp_path / "out.jsonl"
    kills = 3
    for kill in range(1, kills + 1):  # kill it three times at different points
        proc = start_wattbridge(tmp_path)
        enough = kill * 1200
        wait_until(lambda n=enough: len(jsonl_records(out)) > n, timeout=30)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    proc = start_wattbridge(tmp_path)
    try:
        wait_until(
            lambda: len({(r["stream"], r["timestamp"]) for r in jsonl_records(out)}) == count,
            timeout=60,
            message="every generated reading in out.jsonl",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    delivered = jsonl_records(out)
    keys = {(r["stream"], r["timestamp"]) for r in delivered}
    assert len(keys) == count
    # At-least-once: a kill may repeat what was in flight, never more than a few batches.
    assert len(delivered) - count <= kills * (300 + 200)
    status = subprocess.run(
        [sys.executable, "-m", "wattbridge", "status", "--json", "-c", str(tmp_path / "w.toml")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(status.stdout)["sinks"]["out"]["depth"] == 0


def test_sigterm_stops_cleanly_and_keeps_the_queue(tmp_path):
    (tmp_path / "w.toml").write_text(
        CONFIG.format(count=100000).replace(
            'plugin = "jsonl"\npath = "out.jsonl"', 'plugin = "jsonl"\npath = "/dev/full"'
        )
    )
    proc = start_wattbridge(tmp_path)
    box_path = tmp_path / "state" / "outbox" / "out.sqlite"
    wait_until(box_path.exists, timeout=20)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    from wattbridge._outbox import Outbox

    box = Outbox(box_path)
    try:
        assert box.depth > 0  # writes to /dev/full fail: everything stays queued
        assert "No space left" in (box.status().last_error or "")
    finally:
        box.close()
    assert os.path.exists(tmp_path / "state" / "runtime.json")


@pytest.mark.parametrize("style", ["scheduled", "measured"])
def test_polls_run_on_the_grid_stamped_as_configured(tmp_path, style):
    FlakyPolled.calls = 0
    out = tmp_path / "out.jsonl"
    runtime = runtime_for(
        tmp_path,
        f"""
[sources.meter]
plugin = "flaky"
interval = "500ms"
timestamp = "{style}"
[sinks.out]
plugin = "jsonl"
path = "{out}"
flush_interval = "100ms"
[[routes]]
from = "meter"
to = "out"
""",
    )
    runtime.start()
    try:
        wait_until(lambda: len(jsonl_records(out)) >= 3, timeout=20)
    finally:
        runtime.stop()
    stamps = [datetime.fromisoformat(line["timestamp"]) for line in jsonl_records(out)]
    on_grid = [stamp.microsecond % 500_000 == 0 for stamp in stamps]
    if style == "scheduled":
        assert all(on_grid), stamps  # the poll's tick, whatever moment it ran
    else:
        # The source's own datetime.now(): after the tick by the scheduler's latency.
        assert not all(on_grid), stamps


def test_timestamp_is_refused_for_a_pushed_source(tmp_path):
    from wattbridge import ConfigError

    with pytest.raises(ConfigError, match="timestamp: 'dying' is not polled; remove it"):
        runtime_for(
            tmp_path,
            """
[sources.ws]
plugin = "dying"
timestamp = "measured"
""",
        )
