"""`wattbridge run` with its state folder on a real disk that is full (a small tmpfs)
when it can publish to a real Mosquitto: the outbox cannot record acks, so the sink
stops publishing (not the same readings thousands of times a second), logs it once, and
resumes when space returns; every reading arrives.

Everything is queued while the broker is down, then the disk is filled, then the
broker comes back: so the first ack is the first write that needs space."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wattbridge.testing import (
    Mosquitto,
    SmallDisk,
    start_wattbridge,
    stop_wattbridge,
    wait_until,
    wattbridge_status,
)
from wattbridge_plugins.common.mqtt_subscriber import Subscriber
from wattbridge_plugins.sinks.energydata.mqtt.payload import epoch_ms

COUNT = 4000
BATCH = 300
START = datetime(2026, 1, 1, tzinfo=UTC)
STALL = "cannot record progress"

CONFIG = """
[wattbridge]
state_dir = "{state}"
[sources.gen]
plugin = "replay"
streams = ["p", "e"]
count = {count}
rate = 0
chunk = 100
start = "2026-01-01T00:00:00+00:00"
[sinks.edk]
plugin = "energydata-mqtt"
host = "127.0.0.1"
port = {port}
tls = false
token = "local"
prefix = "house"
datastreams = ["meter/p", "meter/e"]
flush_interval = "50ms"
retry_initial = "100ms"
retry_max = "1s"
batch = {batch}
window = 50
[[routes]]
from = "gen"
to = "edk"
streams = {{ "p" = "meter/p", "e" = "meter/e" }}
"""


def queued(config: Path) -> int:
    sink = wattbridge_status(config)["sinks"]["edk"]
    return int(sink["depth"]) if sink else 0


def test_a_full_disk_stops_sending_until_space_returns(
    tmp_path: Path,
    mosquitto: Callable[..., Mosquitto],
    small_disk: Callable[[Path, int], SmallDisk],
) -> None:
    broker = mosquitto(persistence=True)  # the subscriber's session survives a restart
    subscriber = Subscriber(broker.port, "test")
    broker.stop()
    disk = small_disk(tmp_path / "state", 4 * 1024 * 1024)
    config = tmp_path / "w.toml"
    config.write_text(
        CONFIG.format(state=disk.path, port=broker.port, count=COUNT, batch=BATCH),
        encoding="utf-8",
    )
    log_path = tmp_path / "run.log"
    expected = {
        (("meter/p", "meter/e")[n % 2], epoch_ms(START + timedelta(seconds=n)))
        for n in range(COUNT)
    }

    def received() -> list[tuple[str, int]]:
        return [(suffix, ms) for suffix, ms, _ in subscriber.values("house")]

    def log_text() -> str:
        return log_path.read_text(encoding="utf-8", errors="replace")

    process = start_wattbridge(config, log=log_path)
    try:
        wait_until(lambda: queued(config) == COUNT, timeout=60, message="every reading queued")
        disk.fill(leave=64 * 1024)  # room for a small write, not for an ack
        broker.start()
        wait_until(
            lambda: STALL in log_text() or "disk is full" in log_text(),
            timeout=60,
            message="the full disk noticed",
        )
        # A measurement, not a synchronisation: what arrives while the disk stays full.
        before = len(received())
        time.sleep(3)
        during = len(received()) - before
        assert during <= BATCH, f"{during} messages published in 3 s with a full disk"
        assert STALL in log_text()
        disk.free()
        wait_until(
            lambda: expected <= set(received()),
            timeout=120,
            message="every reading once space returned",
        )
    finally:
        stop_wattbridge(process)
        subscriber.close()
    got = received()
    duplicates = len(got) - len(set(got))
    print(f"{COUNT} readings, {duplicates} published twice around the full disk")
    assert set(got) == expected
    assert duplicates <= 4 * BATCH
    assert log_text().count(STALL) == 1, log_text()[-3000:]
    assert "sending resumes" in log_text()
