"""`wattbridge run` as a service, end to end: a real process with the HTTP endpoint,
scraped through an outage of EnergyData's MQTT door (the sandbox: Mosquitto behind the
platform's rules, stopped and started again on the same port), then SIGHUP with a
changed config and with a broken one; every reading arrives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wattbridge.testing import free_port, wait_until
from wattbridge_plugins.sinks.energydata.mqtt.payload import epoch_ms

PREFIX = "myhouse"
COUNT = 900
RATE = 15  # readings a second: the run lasts about a minute, the outage is inside it
START = datetime(2026, 1, 1, tzinfo=UTC)

CONFIG = """
[wattbridge]
state_dir = "state"

[wattbridge.http]
listen = "127.0.0.1:{http_port}"

[sources.gen]
plugin = "replay"
streams = ["p"]
count = {count}
rate = {rate}
chunk = 1
start = "2026-01-01T00:00:00+00:00"

[sinks.edk]
plugin = "energydata-mqtt"
host = "127.0.0.1"
port = {port}
ca_file = "{ca}"
token = {{ env = "EDK_TOKEN" }}
prefix = "{prefix}"
datastreams = ["meter/p"]
flush_interval = "100ms"
retry_initial = "100ms"
retry_max = "1s"
{extra_sink}
[[routes]]
from = "gen"
to = "edk"
streams = {{ "p" = "meter/p" }}
{extra_route}
"""

SECOND_SINK = """
[sinks.copy]
plugin = "jsonl"
path = "copy.jsonl"
flush_interval = "100ms"
"""

SECOND_ROUTE = """
[[routes]]
from = "gen"
to = "copy"
"""


def get(url: str) -> tuple[int, str]:
    """Status and body of a GET (an HTTP error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def metric(text: str, name: str, **labels: str) -> float | None:
    """A sample's value in Prometheus text (None when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    head = f"{name}{{{want}}}" if want else name
    for line in text.splitlines():
        if line.startswith(head + " "):
            return float(line.split()[-1])
    return None


@pytest.fixture
def door(wattbridge_sandbox: Any) -> Any:
    """The sandbox's MQTT door with the dataset's one datastream declared."""
    server = wattbridge_sandbox("energydata-mqtt")
    server.store.add_datastream(9001, f"{PREFIX}/meter/p", "double")
    return server


@pytest.mark.slow
def test_run_scraped_through_an_outage_and_reloaded_with_sighup(tmp_path: Path, door: Any) -> None:
    http = f"http://127.0.0.1:{free_port()}"
    values = {
        "http_port": http.rsplit(":", 1)[1],
        "count": COUNT,
        "rate": RATE,
        "port": door.port,
        "ca": door.ca_file,
        "prefix": PREFIX,
    }
    config = tmp_path / "wattbridge.toml"
    config.write_text(CONFIG.format(**values, extra_sink="", extra_route=""), encoding="utf-8")
    token = door.tokens["write"]
    env = {**os.environ, "EDK_TOKEN": token}
    env.pop("JOURNAL_STREAM", None)
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        # No -c: the config is found in the working folder, as on a server in /etc.
        proc = subprocess.Popen(
            [sys.executable, "-m", "wattbridge", "run"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:

        def scrape() -> str:
            code, text = get(f"{http}/metrics")
            return text if code == 200 else ""

        def sent() -> float:
            return metric(scrape(), "wattbridge_sink_sent_total", sink="edk") or 0.0

        # Healthy and delivering.
        wait_until(lambda: get(f"{http}/healthz") == (200, "ok\n"), 60, message="healthz 200")
        first = wait_until(sent, 60, message="readings sent")
        text = scrape()
        assert metric(text, "wattbridge_source_healthy", source="gen") == 1
        assert metric(text, "wattbridge_sink_healthy", sink="edk") == 1
        assert metric(text, "process_resident_memory_bytes") is not None
        assert metric(text, "wattbridge_info", version=_version()) == 1

        # The platform goes away: the queue grows, health says why, nothing is lost.
        door.stop()
        wait_until(
            lambda: get(f"{http}/healthz")[0] == 503, 60, message="healthz 503 during outage"
        )
        code, reason = get(f"{http}/healthz")
        assert code == 503 and "sink edk: retrying" in reason, reason
        wait_until(
            lambda: (metric(scrape(), "wattbridge_sink_queue_depth", sink="edk") or 0) >= 20,
            60,
            message="readings queued during the outage",
        )
        during = scrape()
        assert metric(during, "wattbridge_sink_healthy", sink="edk") == 0
        assert (metric(during, "wattbridge_sink_retried_total", sink="edk") or 0) > 0
        assert (metric(during, "wattbridge_sink_oldest_reading_age_seconds", sink="edk") or 0) > 0
        assert token not in reason and token not in during

        # Back: health recovers, the queue drains.
        door.start()
        wait_until(lambda: get(f"{http}/healthz") == (200, "ok\n"), 90, message="healthz back")
        assert sent() > first

        # SIGHUP with a changed config: a second sink appears; the first one's queue and
        # counters carry over (its outbox is kept).
        before = sent()
        config.write_text(
            CONFIG.format(**values, extra_sink=SECOND_SINK, extra_route=SECOND_ROUTE),
            encoding="utf-8",
        )
        proc.send_signal(signal.SIGHUP)
        wait_until(
            lambda: (
                (tmp_path / "copy.jsonl").exists()
                and (tmp_path / "copy.jsonl").read_text().count("\n") >= 5
            ),
            60,
            message="the reloaded config's new sink writing",
        )
        assert sent() >= before, "the outbox's counters were not kept"
        assert metric(scrape(), "wattbridge_sink_queue_depth", sink="copy") is not None

        # SIGHUP with a broken config: refused, the running one goes on.
        broken = CONFIG.format(**values, extra_sink=SECOND_SINK, extra_route=SECOND_ROUTE)
        config.write_text(broken.replace(f"count = {COUNT}", "cuont = 3"), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "reload refused" in log.read_text(), 30, message="reload refused")
        assert "cuont" in log.read_text()
        after_refusal = sent()
        wait_until(lambda: sent() > after_refusal, 60, message="still sending after a refusal")
        assert get(f"{http}/healthz")[0] == 200

        # Every reading arrives, once in effect.
        expected = {(9001, epoch_ms(START + timedelta(seconds=n))) for n in range(COUNT)}
        wait_until(
            lambda: expected <= set(door.stored()),
            180,
            message=f"all {COUNT} readings stored",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    output = log.read_text()
    assert code == 0, output[-3000:]
    assert token not in output
    assert set(door.stored()) == expected


def _version() -> str:
    from wattbridge import __version__

    return __version__
