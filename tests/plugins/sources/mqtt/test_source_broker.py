"""The mqtt source against a real Mosquitto: devices' payloads become readings."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wattbridge.testing import Mosquitto, TlsFiles, wait_until

USER = {"username": "wattbridge", "password": "wb-pw-4c0e"}

TASMOTA = (
    b'{"Time":"2026-02-03T10:20:30","ENERGY":{"TotalStartTime":"2024-01-01T00:00:00",'
    b'"Total":123.456,"Yesterday":1.2,"Today":0.5,"Power":87,"Voltage":231,"Current":0.4}}'
)


def keys(broker: Mosquitto, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": broker.port, "qos": 1, **USER, **extra}


def test_plain_numbers_and_tasmota_json_become_readings(
    run_source: Any, broker: Mosquitto, publish: Callable[..., None]
) -> None:
    harness = run_source(
        "mqtt",
        **keys(broker),
        subscriptions=[
            {"topic": "shellies/+/relay/0/power", "stream": "{1}/power", "unit": "W"},
            {"topic": "tele/+/SENSOR", "stream": "{1}/power", "value": "ENERGY.Power",
             "unit": "W", "timestamp": "Time", "timezone": "Europe/Copenhagen"},
            {"topic": "tele/+/SENSOR", "stream": "{1}/total", "value": "$.ENERGY.Total",
             "unit": "kWh"},
        ],
    )  # fmt: skip
    harness.start()
    wait_until(lambda: harness.source.subscribed)
    before = datetime.now(UTC)
    publish("shellies/plug1/relay/0/power", b"42.5")
    publish("tele/kitchen/SENSOR", TASMOTA)
    readings = sorted(harness.wait_for(3), key=lambda r: r.stream)
    assert [(r.stream, r.value, r.unit) for r in readings] == [
        ("kitchen/power", 87, "W"),
        ("kitchen/total", 123.456, "kWh"),
        ("plug1/power", 42.5, "W"),
    ]
    # Tasmota's local time without an offset, in the configured zone (UTC+1 in February).
    assert readings[0].timestamp == datetime(2026, 2, 3, 9, 20, 30, tzinfo=UTC)
    assert readings[1].timestamp >= before  # no timestamp path: arrival time
    assert readings[2].source == "under_test"


def test_bad_payloads_are_counted_and_logged_not_fatal(
    run_source: Any,
    broker: Mosquitto,
    publish: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    harness = run_source(
        "mqtt",
        **keys(broker),
        subscriptions=[
            {"topic": "plain/#"},
            {
                "topic": "json/#",
                "value": "a.b[1]",
                "timestamp": "ts",
                "timestamp_format": "epoch_ms",
            },
        ],
    )
    harness.start()
    wait_until(lambda: harness.source.subscribed)
    for payload in (b"ON", b"\xff\xfe", b"nan", b""):
        publish("plain/x", payload)
    for payload in (b"{", b'{"a": {"b": [1]}, "ts": 1}', b'{"a": {"b": [1, null]}, "ts": 1}'):
        publish("json/x", payload)
    publish("json/y", b'{"a": {"b": [1, 2]}, "ts": 1767225600000}')
    publish("plain/z", b" 17 ")
    readings = harness.wait_for(2)
    wait_until(lambda: harness.source.rejected == 7, message="7 rejections")
    assert sorted((r.stream, r.value) for r in readings) == [("json/y", 2), ("plain/z", 17)]
    json_reading = next(r for r in readings if r.stream == "json/y")
    assert json_reading.timestamp == datetime(2026, 1, 1, tzinfo=UTC)
    assert "plain/x: payload 'ON' is not a number" in caplog.text


def test_tls_with_the_test_ca(
    run_source: Any, broker: Mosquitto, source_ca: TlsFiles, publish: Callable[..., None]
) -> None:
    harness = run_source(
        "mqtt",
        **keys(broker, port=broker.tls_port, tls=True, ca_file=str(source_ca.ca)),
        subscriptions=[{"topic": "meter/power", "stream": "power"}],
    )
    harness.start()
    wait_until(lambda: harness.source.subscribed, message="TLS connection")
    publish("meter/power", b"5")
    assert [r.value for r in harness.wait_for(1)] == [5]


def test_reconnects_after_a_broker_restart_and_gets_what_it_missed(
    run_source: Any, broker: Mosquitto, publish: Callable[..., None]
) -> None:
    harness = run_source(
        "mqtt",
        **keys(broker, reconnect_min="1s", reconnect_max="1s"),
        subscriptions=[{"topic": "n/+", "stream": "n"}],
    )
    harness.start()
    wait_until(lambda: harness.source.subscribed)
    publish("n/a", b"1")
    harness.wait_for(1)
    broker.stop()
    wait_until(lambda: not harness.source.subscribed, message="disconnect seen")
    broker.start()
    # Published before the source is back: its persistent session keeps them.
    publish("n/b", b"2")
    publish("n/c", b"3")
    readings = harness.wait_for(3, timeout=20)
    assert sorted(r.value for r in readings) == [1, 2, 3]


def test_sample_config_is_accepted() -> None:
    import wattbridge_plugins.sources.mqtt as plugin

    sample = Path(plugin.__file__).parent / "sample.toml"
    env = {**os.environ, "MQTT_PASSWORD": "sample-password"}
    result = subprocess.run(
        [sys.executable, "-m", "wattbridge", "check", "-c", str(sample)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert ": ok (1 source(s)" in result.stdout
