"""A private Mosquitto for the mqtt source's tests: devices publish as ``device``,
wattbridge reads as ``wattbridge``; a TLS listener with a CA made here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wattbridge.testing import Mosquitto, TlsFiles, make_certificates, wait_until
from wattbridge_plugins.common import mqtt_client

USERS = {"device": "device-pw-81f", "wattbridge": "wb-pw-4c0e"}


@pytest.fixture(scope="session")
def source_ca(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """The CA that signed the broker's certificate."""
    return make_certificates(tmp_path_factory.mktemp("source-ca"), "ca")


@pytest.fixture
def broker(mosquitto: Callable[..., Mosquitto], source_ca: TlsFiles) -> Mosquitto:
    """Mosquitto with passwords, an ACL and TLS; persistent across a restart."""
    return mosquitto(
        users=USERS,
        acl=["user device", "topic write #", "user wattbridge", "topic read #"],
        tls=source_ca,
        persistence=True,
    )


@pytest.fixture
def publish(broker: Mosquitto) -> Iterator[Callable[..., None]]:
    """``publish(topic, payload, retain=False)``: as a device, QoS 1, waiting for PUBACK."""
    client = mqtt_client.make_client("test-device", reconnect=True)
    client.username_pw_set("device", USERS["device"])
    client.reconnect_delay_set(1, 1)
    client.connect("127.0.0.1", broker.port, 30)
    client.loop_start()

    def send(topic: str, payload: Any, retain: bool = False) -> None:
        wait_until(client.is_connected, timeout=15, message="the device's connection")
        info = client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(10)
        assert info.is_published(), broker.diagnostics()

    yield send
    client.disconnect()
    client.loop_stop()
