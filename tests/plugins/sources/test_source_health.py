"""`wattbridge status` shows each source's health beside the sinks', while a real
`wattbridge run` runs: a Modbus meter that does not answer, a file moved to failed/,
an MQTT broker that went away (and came back), a Home Assistant that cannot be reached."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wattbridge.testing import (
    Mosquitto,
    free_port,
    start_wattbridge,
    stop_wattbridge,
    wait_until,
    wattbridge_command,
    wattbridge_status,
)

CONFIG = """
[wattbridge]
state_dir = "state"

[sources.meter]
plugin = "modbus"
host = "127.0.0.1"
port = {modbus_port}
unit = 1
profile = "eastron-sdm630"
interval = "1s"
timeout = "200ms"
retries = 0
backoff_max = "2s"

[sources.folder]
plugin = "csv-folder"
inbox = "inbox"
format = "wide"
delimiter = ","
timestamp_format = "epoch_s"
settle = "0.1s"
scan_interval = "0.05s"

[sources.plugs]
plugin = "mqtt"
host = "127.0.0.1"
port = {mqtt_port}
reconnect_min = "1s"
reconnect_max = "1s"
[[sources.plugs.subscriptions]]
topic = "plug/+"
stream = "{{1}}"

[sources.house]
plugin = "homeassistant"
url = "http://127.0.0.1:{ha_port}"
token = {{ env = "HA_TOKEN" }}
reconnect_initial = "1s"
reconnect_max = "2s"

[sinks.out]
plugin = "jsonl"
path = "out.jsonl"

[[routes]]
from = ["meter", "folder", "plugs", "house"]
to = "out"
"""


ENV = {"HA_TOKEN": "not-a-token"}


def test_status_shows_each_source_health_during_a_run(
    tmp_path: Path, mosquitto: Callable[..., Mosquitto]
) -> None:
    broker = mosquitto()
    config = tmp_path / "w.toml"
    config.write_text(
        CONFIG.format(modbus_port=free_port(), mqtt_port=broker.port, ha_port=free_port()),
        encoding="utf-8",
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    log = tmp_path / "run.log"
    process = start_wattbridge(config, log=log, env=ENV)
    try:
        (inbox / ".bad.csv").write_text("timestamp,power\nyesterday,5\n", encoding="utf-8")
        (inbox / ".bad.csv").rename(inbox / "bad.csv")
        wait_until(
            lambda: "connected to 127.0.0.1" in log.read_text(errors="replace"),
            timeout=30,
            message="the mqtt source connected",
        )
        broker.stop()  # the broker goes away

        def sources() -> dict[str, Any]:
            found: dict[str, Any] = wattbridge_status(config, env=ENV)["sources"]
            return found

        def all_reported() -> bool:
            now = sources()
            return (
                bool(now["meter"]["errors"])
                and "broker" in now["plugs"]["errors"]
                and "connection" in now["house"]["errors"]
                and now["folder"]["counters"].get("files_failed") == 1
            )

        wait_until(all_reported, timeout=60, message="every source's trouble in status")
        now = sources()
        assert not now["meter"]["healthy"]
        assert "down on" in next(iter(now["meter"]["errors"].values()))["message"]
        assert now["meter"]["counters"]["no_answer"] >= 1
        assert "bad.csv" in now["folder"]["errors"]["failed"]["message"]
        assert "disconnected" in now["plugs"]["errors"]["broker"]["message"]
        assert "cannot reach" in now["house"]["errors"]["connection"]["message"]
        assert "not-a-token" not in json.dumps(now)

        text = wattbridge_command("status", "-c", str(config), env=ENV)
        assert text.returncode == 1, text.stderr  # health: warning, sources failing
        table = text.stdout
        assert all(name in table for name in ("meter", "folder", "plugs", "house"))
        assert "source" in table and "state" in table and "error(s)" in table

        broker.start()  # back: the source reconnects and its error clears
        wait_until(
            lambda: "broker" not in sources()["plugs"]["errors"],
            timeout=60,
            message="the broker's error cleared",
        )
    finally:
        assert stop_wattbridge(process) == 0
