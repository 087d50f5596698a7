"""A whole config: Tasmota messages on a local broker (Mosquitto) -> the mqtt source ->
the outbox -> the energydata-mqtt sink -> the EnergyData sandbox's MQTT door, where a
subscriber with a read token sees them and the store holds them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wattbridge.testing import Mosquitto, wait_until
from wattbridge_plugins.common import mqtt_client
from wattbridge_plugins.common.mqtt_subscriber import Subscriber

USERS = {"device": "dev-pw-0a1", "wattbridge": "wb-pw-9f2"}
ACL = [
    "user device", "topic write tele/#",
    "user wattbridge", "topic read #",
]  # fmt: skip

CONFIG = """
[wattbridge]
state_dir = "state"

[sources.plugs]
plugin = "mqtt"
host = "127.0.0.1"
port = {port}
username = "wattbridge"
password = "wb-pw-9f2"
client_id = "pipeline-source"

[[sources.plugs.subscriptions]]
topic = "tele/+/SENSOR"
stream = "{{1}}/power"
value = "ENERGY.Power"
timestamp = "Time"
unit = "W"

[[sources.plugs.subscriptions]]
topic = "tele/+/SENSOR"
stream = "{{1}}/energy"
value = "ENERGY.Total"
timestamp = "Time"
unit = "kWh"

[sinks.edk]
plugin = "energydata-mqtt"
host = "127.0.0.1"
port = {edk_port}
ca_file = "{edk_ca}"
token = "{edk_token}"
prefix = "myhouse"
datastreams = ["kitchen/power", "kitchen/energy"]
multi_value = true
flush_interval = "50ms"

[[routes]]
from = "plugs"
to = "edk"
"""


@pytest.fixture
def broker(mosquitto: Callable[..., Mosquitto]) -> Mosquitto:
    return mosquitto(users=USERS, acl=ACL)


def test_tasmota_to_the_platform_topics(
    wattbridge_runtime: Any, broker: Mosquitto, wattbridge_sandbox: Any
) -> None:
    door = wattbridge_sandbox("energydata-mqtt")
    door.store.add_datastream(9101, "myhouse/kitchen/power", "double")
    door.store.add_datastream(9102, "myhouse/kitchen/energy", "double")
    platform = Subscriber(door.port, door.tokens["read"], topic="myhouse/#", ca_file=door.ca_file)
    config = CONFIG.format(
        port=broker.port, edk_port=door.port, edk_ca=door.ca_file, edk_token=door.tokens["write"]
    )
    runtime = wattbridge_runtime(config)
    source = runtime.sources["plugs"].plugin
    wait_until(lambda: source.subscribed, message="the source's subscriptions")
    device = mqtt_client.make_client("kitchen-plug")
    device.username_pw_set("device", USERS["device"])
    device.connect("127.0.0.1", broker.port, 30)
    device.loop_start()
    try:
        for second in range(5):
            payload = {
                "Time": f"2026-02-03T10:20:0{second}",
                "ENERGY": {"Power": 80 + second, "Total": 12.5},
            }
            device.publish("tele/kitchen/SENSOR", json.dumps(payload), qos=1).wait_for_publish(10)
    finally:
        device.disconnect()
        device.loop_stop()
    wait_until(lambda: len(platform.messages) >= 5, message="5 multi-value messages")
    platform.close()
    start_ms = int(datetime(2026, 2, 3, 10, 20, tzinfo=UTC).timestamp() * 1000)
    assert sorted(set(platform.values("myhouse"))) == sorted(
        [("kitchen/power", start_ms + 1000 * s, 80 + s) for s in range(5)]
        + [("kitchen/energy", start_ms + 1000 * s, 12.5) for s in range(5)]
    )
    assert {topic for topic, _ in platform.messages} == {"myhouse"}  # multi-value topic
    assert door.stored() == {
        **{(9101, start_ms + 1000 * s): float(80 + s) for s in range(5)},
        **{(9102, start_ms + 1000 * s): 12.5 for s in range(5)},
    }


def test_example_config_is_accepted() -> None:
    example = Path(__file__).parents[4] / "examples" / "tasmota-to-energydata-mqtt.toml"
    env = {"MQTT_PASSWORD": "example-password", "EDK_TOKEN": "example-token", "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "wattbridge", "check", "-c", str(example)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
