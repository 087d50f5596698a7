"""A full outbox under a real `wattbridge run` and a Mosquitto that queues 1000 messages a
client (its default, and EnergyData's broker's): the mqtt source cannot pause the broker
without loss, so its readings go on into the outbox past `max_queue` (bounded on disk),
said in the log and `status`; not one of 3000 messages is lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from wattbridge.testing import (
    Mosquitto,
    start_wattbridge,
    stop_wattbridge,
    wait_until,
    wattbridge_command,
    wattbridge_status,
)
from wattbridge_plugins.common import mqtt_client

COUNT = 3000
MAX_QUEUE = 100

CONFIG = """
[wattbridge]
state_dir = "state"
[sources.meters]
plugin = "mqtt"
host = "127.0.0.1"
port = {port}
client_id = "overflow-source"
[[sources.meters.subscriptions]]
topic = "meter/+"
stream = "{{1}}"
value = "v"
timestamp = "t"
[sinks.out]
plugin = "jsonl"
path = "{path}"
max_queue = {max_queue}
flush_interval = "50ms"
retry_initial = "100ms"
retry_max = "200ms"
[[routes]]
from = "meters"
to = "out"
"""


def depth(config: Path) -> int:
    sink = wattbridge_status(config)["sinks"]["out"]
    return int(sink["depth"]) if sink else 0


def test_a_full_outbox_takes_what_the_broker_would_drop(
    tmp_path: Path, mosquitto: Callable[..., Mosquitto]
) -> None:
    broker = mosquitto(max_queued=1000)
    config = tmp_path / "w.toml"
    # /dev/full: the sink can write nothing, so the outbox fills and stays full.
    config.write_text(
        CONFIG.format(port=broker.port, path="/dev/full", max_queue=MAX_QUEUE), "utf-8"
    )
    log = tmp_path / "run.log"
    process = start_wattbridge(config, log=log)
    device = mqtt_client.make_client("overflow-device", reconnect=True)
    try:
        wait_until(
            lambda: "subscribed" in log.read_text(errors="replace"),
            timeout=30,
            message="the source subscribed",
        )
        device.connect("127.0.0.1", broker.port, 30)
        device.loop_start()
        infos = [
            device.publish(
                f"meter/m{n % 10}",
                json.dumps({"v": n, "t": f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:"
                            f"{n % 60:02d}Z"}),
                qos=1,
            )
            for n in range(COUNT)
        ]  # fmt: skip
        for info in infos:
            info.wait_for_publish(30)
        wait_until(lambda: depth(config) == COUNT, timeout=90, message=f"all {COUNT} queued")
        counters = lambda: wattbridge_status(config)["runtime"]["counters"]  # noqa: E731
        wait_until(
            lambda: counters().get("sink.out.over_max_queue", 0) >= COUNT - MAX_QUEUE - 100,
            timeout=30,
            message="the overflow counted in status",
        )
        assert "over max_queue" in log.read_text(errors="replace")
    finally:
        device.disconnect()
        device.loop_stop()
        assert stop_wattbridge(process) == 0

    # Every message queued is delivered once the sink can write.
    config.write_text(
        CONFIG.format(port=broker.port, path=tmp_path / "out.jsonl", max_queue=MAX_QUEUE),
        "utf-8",
    )
    done = wattbridge_command("run", "-c", str(config), "--until-idle", "1", timeout=120)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(int(r["value"]) for r in rows) == list(range(COUNT))
