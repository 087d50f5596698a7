"""The EnergyData sandbox's MQTT door enforces each rule of the platform's MQTT text
(see the sandbox's README.md), checked with clients written here from that text and
the MQTT standard (paho-mqtt, raw sockets), and with the platform's own subscriber."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from wattbridge.testing import wait_until
from wattbridge_plugins.common import mqtt_client
from wattbridge_plugins.common.mqtt_subscriber import Subscriber

SEED_CLIENTS = Path(__file__).parents[1] / "seed_clients"
T0 = 1_700_000_000_000


@pytest.fixture
def door(wattbridge_sandbox: Any) -> Any:
    """The MQTT door on a free port."""
    return wattbridge_sandbox("energydata-mqtt")


def publisher(door: Any, token: str, inflight: int = 20) -> Any:
    """A connected QoS 1 publisher that does not reconnect by itself, and its events."""
    events: dict[str, Any] = {"connected": [], "disconnected": []}
    client = mqtt_client.make_client(
        f"publisher-{token[:6]}-{time.monotonic_ns()}",
        on_connect=events["connected"].append,
        on_disconnect=lambda text, unexpected: events["disconnected"].append(text),
    )
    client.max_inflight_messages_set(inflight)
    client.max_queued_messages_set(0)
    client.username_pw_set(token)
    client.tls_set(ca_certs=str(door.ca_file))
    client.connect("127.0.0.1", door.port, 30)
    client.loop_start()
    wait_until(lambda: events["connected"], message="CONNACK")
    assert events["connected"][0].ok, events["connected"][0].text
    client.events = events
    return client


def message(ms: int, value: Any) -> bytes:
    return json.dumps({"timestamp": ms, "value": value}).encode()


def raw_connect(door: Any, body: bytes) -> bytes:
    """Send one CONNECT packet (its body given) over TLS; the answer's first 4 bytes."""
    context = ssl.create_default_context(cafile=str(door.ca_file))
    with (
        socket.create_connection(("127.0.0.1", door.port), timeout=5) as plain,
        context.wrap_socket(plain, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(bytes([0x10, len(body)]) + body)
        return tls.recv(4)


def connect_body(protocol: bytes, level: int, username: bytes | None) -> bytes:
    flags = 0x02 | (0x80 if username is not None else 0)
    body = len(protocol).to_bytes(2, "big") + protocol + bytes([level, flags, 0, 60, 0, 0])
    if username is not None:
        body += len(username).to_bytes(2, "big") + username
    return body


def test_the_platforms_subscriber_example_gets_live_values(door: Any, tmp_path: Path) -> None:
    # The documentation's subscriber, unchanged but host, port, CA and what it asks a
    # user to fill in; it stops after setting callbacks, so connect and loop are added.
    text = (SEED_CLIENTS / "subscriber.py").read_text(encoding="utf-8")
    filled = {
        "broker_host = 'mqtts.energydata.dk'": "broker_host = '127.0.0.1'",
        "broker_port = 8883": f"broker_port = {door.port}",
        'subscribe_topic = ""': 'subscribe_topic = "house/#"',
        'token = ""': f'token = "{door.tokens["read"]}"',
        "client.tls_set()": f"client.tls_set(ca_certs={str(door.ca_file)!r})",
    }
    for line, replacement in filled.items():
        assert text.count(line) == 1, line
        text = text.replace(line, replacement)
    script = tmp_path / "subscriber.py"
    script.write_text(text + "client.connect(broker_host, broker_port)\nclient.loop_forever()\n")
    process = subprocess.Popen(
        [sys.executable, "-u", str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # paho 2.x warns that this API version is deprecated
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        assert lines[0].strip() == "Connected to 127.0.0.1 successfully!", lines
        assert lines[1].strip() == "Subscribed to topic: house/#", lines
        time.sleep(0.3)  # the SUBACK
        client = publisher(door, door.tokens["write"])
        client.publish("house/power_w", message(T0, 512.5), qos=1).wait_for_publish(5)
        received = process.stdout.readline()
        client.disconnect()
        client.loop_stop()
    finally:
        process.kill()
        process.communicate()
    assert received.endswith(
        f'Received `{{"timestamp": {T0}, "value": 512.5}}` from `house/power_w`\n'
    ), received
    assert door.stored() == {(1205192, T0): 512.5}


def test_only_mqtt_3_1_1_with_a_known_token_as_user_name_is_let_in(door: Any) -> None:
    token = door.tokens["write"].encode()
    assert raw_connect(door, connect_body(b"MQTT", 4, token)) == bytes([0x20, 2, 0, 0])
    # 3.1 (MQIsdp, level 3): "The API is built on top of the MQTT protocol, version 3.1.1."
    assert raw_connect(door, connect_body(b"MQIsdp", 3, token)) == bytes([0x20, 2, 0, 1])
    assert raw_connect(door, connect_body(b"MQTT", 5, token)) == bytes([0x20, 2, 0, 1])
    assert raw_connect(door, connect_body(b"MQTT", 4, b"not-a-token")) == bytes([0x20, 2, 0, 5])
    assert raw_connect(door, connect_body(b"MQTT", 4, None)) == bytes([0x20, 2, 0, 5])


def test_plain_text_is_refused_it_is_tls_only(door: Any) -> None:
    with socket.create_connection(("127.0.0.1", door.port), timeout=5) as plain:
        plain.sendall(bytes([0x10, 12]) + connect_body(b"MQTT", 4, None))
        try:
            answer = plain.recv(4)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"\x20")  # a TLS alert or nothing, never a CONNACK


def test_the_puback_comes_only_after_authorization(door: Any) -> None:
    client = publisher(door, door.tokens["write"])
    door.hold()  # the queue is not worked through
    info = client.publish("house/power_w", message(T0, 1.0), qos=1)
    time.sleep(0.5)
    assert not info.is_published()
    assert door.stored() == {}
    door.release()
    info.wait_for_publish(5)
    assert info.is_published()
    assert door.stored() == {(1205192, T0): 1.0}


def test_a_full_queue_drops_what_comes_after_the_thousandth(door: Any) -> None:
    client = publisher(door, door.tokens["write"], inflight=1200)
    door.hold()
    infos = [client.publish("house/power_w", message(T0 + n, float(n)), qos=1) for n in range(1100)]
    wait_until(lambda: len(door.events_of("dropped")) == 100, message="100 dropped")
    door.release()
    for info in infos[:1000]:
        info.wait_for_publish(10)
    time.sleep(0.3)
    assert [info.is_published() for info in infos] == [True] * 1000 + [False] * 100
    assert door.stored() == {(1205192, T0 + n): float(n) for n in range(1000)}
    assert client.events["disconnected"] == []  # dropped, not disconnected


def test_a_forbidden_topic_disconnects_and_discards_the_queue(door: Any) -> None:
    # "limited" may write every default datastream but 119221 (demo/count).
    client = publisher(door, door.tokens["limited"])
    door.hold()
    for n in range(3):
        client.publish("house/power_w", message(T0 + n, float(n)), qos=1)
    client.publish("demo/count", message(T0, 7), qos=1)
    for n in range(3, 6):
        client.publish("house/power_w", message(T0 + n, float(n)), qos=1)
    time.sleep(0.3)
    door.release()
    wait_until(lambda: client.events["disconnected"], message="the disconnect")
    client.loop_stop()
    assert door.stored() == {(1205192, T0 + n): float(n) for n in range(3)}
    (refusal,) = door.events_of("disconnected")
    assert refusal.topic == "demo/count" and "no write access" in refusal.reason


def test_a_topic_that_is_no_datastreams_disconnects_too(door: Any) -> None:
    client = publisher(door, door.tokens["write"])
    client.publish("nothouse/power_w", message(T0, 1.0), qos=1)
    wait_until(lambda: client.events["disconnected"], message="the disconnect")
    client.loop_stop()
    assert door.stored() == {}


def test_multi_value_messages_store_each_datastream(door: Any) -> None:
    client = publisher(door, door.tokens["write"])
    # Keys as the text's example writes them (full topics), and as suffixes below the prefix.
    values = {"house/power_w": 14.47, "phase_count": 3, "house/note": "ok"}
    client.publish("house", message(T0, values), qos=1).wait_for_publish(5)
    assert door.stored() == {(1205192, T0): 14.47, (1205193, T0): 3, (1205194, T0): "ok"}


@pytest.mark.parametrize(
    ("topic", "payload", "words"),
    [
        ("house/power_w", b'{"timestamp": 1.5, "value": 1}', "epoch milliseconds"),
        ("house/power_w", b'{"timestamp": 1, "value": "1"}', "not a double"),
        ("house/phase_count", b'{"timestamp": 1, "value": 1.5}', "not a integer"),
        ("house/power_w", b'{"timestamp": 1, "value": NaN}', "not a JSON number"),
        ("house/power_w", b"14.47", "must be"),
        ("house/note", b'{"timestamp": 1, "value": 3}', "not a string"),
    ],
)
def test_a_payload_not_of_the_documented_form_is_acked_but_not_stored(
    door: Any, topic: str, payload: bytes, words: str
) -> None:
    client = publisher(door, door.tokens["write"])
    info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(5)
    assert info.is_published()
    assert door.stored() == {}
    (event,) = door.events_of("not stored")
    assert words in event.reason


def test_subscribers_get_only_what_their_token_may_read(door: Any) -> None:
    only_power = door.store.add_token("power-reader", write=(), read=[1205192])
    everything = Subscriber(door.port, door.tokens["read"], ca_file=door.ca_file)
    some = Subscriber(door.port, only_power, ca_file=door.ca_file)
    client = publisher(door, door.tokens["write"])
    client.publish("house/import_kwh", message(T0, 1.5), qos=1).wait_for_publish(5)
    client.publish("house/power_w", message(T0, 2.5), qos=1).wait_for_publish(5)
    wait_until(lambda: len(everything.messages) == 2, message="both messages")
    wait_until(lambda: some.messages, message="the readable message")
    time.sleep(0.2)
    assert [topic for topic, _ in some.messages] == ["house/power_w"]
    everything.close()
    some.close()


def test_values_survive_a_restart_and_the_port_is_kept(door: Any) -> None:
    client = publisher(door, door.tokens["write"])
    client.publish("house/power_w", message(T0, 1.0), qos=1).wait_for_publish(5)
    client.loop_stop()
    port = door.port
    door.stop()
    door.start()
    assert door.port == port
    assert door.stored() == {(1205192, T0): 1.0}
