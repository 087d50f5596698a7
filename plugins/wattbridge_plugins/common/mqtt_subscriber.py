"""A QoS 1 MQTT subscriber for tests and benchmarks: what reached a broker.

It reads messages in EnergyData.dk's format (``{"timestamp": ms, "value": ...}``, a
multi-value message's value a table), as the energydata-mqtt sink publishes them; the
broker is :func:`wattbridge.testing.mosquitto`'s, or the EnergyData sandbox's MQTT door
(over TLS, with its CA).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from wattbridge.testing import free_port
from wattbridge_plugins.common import mqtt_client


class Subscriber:
    """A QoS 1 subscriber with a persistent session (it survives a broker restart);
    collects every (topic, payload) that arrives."""

    def __init__(
        self,
        port: int,
        username: str,
        password: str | None = None,
        topic: str = "#",
        ca_file: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()

        def on_connect(result: mqtt_client.ConnectResult) -> None:
            if result.ok:
                self.client.subscribe(topic, qos=1)
                self.subscribed.set()

        def on_message(message: Any) -> None:
            with self.lock:
                self.messages.append((message.topic, bytes(message.payload)))

        self.client = mqtt_client.make_client(
            f"test-subscriber-{free_port()}",
            clean_session=False,
            reconnect=True,
            on_connect=on_connect,
            on_message=on_message,
        )
        self.client.username_pw_set(username, password)
        if ca_file is not None:
            self.client.tls_set(ca_certs=str(ca_file))
        self.client.reconnect_delay_set(1, 1)
        self.client.connect(host, port, 30)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            self.close()
            raise RuntimeError(f"subscriber could not connect and subscribe to {host}:{port}")

    def values(self, prefix: str) -> list[tuple[str, int, Any]]:
        """Every (suffix, epoch ms, value) received; multi-value messages unpacked."""
        with self.lock:
            messages = list(self.messages)
        out: list[tuple[str, int, Any]] = []
        for topic, payload in messages:
            data = json.loads(payload)
            if isinstance(data["value"], dict):
                out += [(k, data["timestamp"], v) for k, v in data["value"].items()]
            else:
                out.append((topic.removeprefix(prefix + "/"), data["timestamp"], data["value"]))
        return out

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()
