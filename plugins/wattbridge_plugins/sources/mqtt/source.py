"""The ``mqtt`` source: readings from any MQTT broker's messages.

Mosquitto beside Home Assistant, Zigbee2MQTT, Tasmota, Shelly and Node-RED all publish
plain numbers or JSON; each subscription maps a topic filter to a stream and says where
the value (and optionally the timestamp) is. A message may feed several subscriptions.

Nothing is acknowledged before it is durable: paho sends the PUBACK of a QoS 1 message
only after ``on_message`` returns, and that calls ``emit``, which returns once the
readings are in every outbox. With a persistent session (the default) the broker keeps
what arrives while wattbridge is down, and sends again what it never acknowledged.

A message that gives no storable reading (not a number, a lone surrogate in a JSON
string, ...) is refused here, at the edge: logged with its topic, counted as
``source.NAME.rejected``, and acknowledged, so it never blocks the messages behind it.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from paho.mqtt.client import topic_matches_sub

from wattbridge import Emit, InvalidReading, Reading, SourceContext, Stopping, warn_plain_text
from wattbridge_plugins.common import mqtt_client
from wattbridge_plugins.sources.mqtt.config import MqttSourceConfig
from wattbridge_plugins.sources.mqtt.extract import Rejected, Rule, extract


class MqttSource:
    """A pushed source subscribed to a broker; see the module doc."""

    pausable = False
    """Blocking in ``on_message`` stalls paho's network thread, and the broker drops
    what exceeds its queue (Mosquitto: 1000 messages): the core queues past max_queue."""

    def __init__(self, config: MqttSourceConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context
        self.log = context.logger
        self.rules = [Rule.of(s, context.name) for s in config.subscriptions]
        self.client_id = config.client_id or f"wattbridge-{context.name}-{socket.gethostname()}"
        self.received = 0
        """Messages that arrived."""
        self.rejected = 0
        """(message, subscription) pairs that gave no reading."""
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._emit: Emit | None = None
        self._client: Any = None
        self._pending: set[int] = set()
        self._subscribed = False

    @property
    def connected(self) -> bool:
        """True while connected to the broker."""
        client = self._client
        return client is not None and bool(client.is_connected())

    @property
    def subscribed(self) -> bool:
        """True once connected and the broker acknowledged every subscription."""
        return self.connected and self._subscribed and not self._pending

    # -- messages -------------------------------------------------------------------

    def readings_of(self, topic: str, payload: bytes, arrived: datetime) -> list[Reading]:
        """The readings a message gives (rejections are counted and logged). Never raises."""
        readings = []
        for rule in self.rules:
            if not topic_matches_sub(rule.subscription.topic, topic):
                continue
            try:
                readings.append(extract(rule, topic, payload, arrived))
            except Rejected as exc:
                self._reject(str(exc))
            except Exception as exc:  # a bug must not kill the subscription
                self.log.exception("unexpected error reading a message on %s", topic)
                self._reject(f"{topic}: {type(exc).__name__}: {exc}")
        return readings

    def _reject(self, reason: str) -> None:
        self.rejected += 1
        # Shown by `wattbridge status` as source.NAME.rejected.
        self.context.count("rejected", 1)
        # The first one, then every 100th, loudly: a misconfigured path would flood.
        if self.rejected == 1 or self.rejected % 100 == 0:
            self.log.warning("message skipped (%d so far): %s", self.rejected, reason)
        else:
            self.log.debug("message skipped: %s", reason)

    def _on_message(self, message: Any) -> None:
        self.received += 1
        readings = self.readings_of(message.topic, message.payload, datetime.now(UTC))
        if not readings or self._emit is None:
            return
        try:
            self._emit(readings)
        except Stopping:
            self._abandon()
        except InvalidReading as exc:
            # A transform made a reading that cannot be stored: refuse the message and
            # acknowledge it, or the broker would send it again after every restart.
            self._reject(f"{message.topic}: {exc}")
        except Exception as exc:
            self.log.error("could not queue readings from %s: %s", message.topic, exc)
            self._failure = exc
            self._abandon()
            self._stop.set()

    def _abandon(self) -> None:
        # Disconnect before returning from on_message: paho queues the PUBACK after the
        # DISCONNECT, which closes the socket, so the broker keeps the message for later.
        self._client.disconnect()

    # -- connection -----------------------------------------------------------------

    def _on_connect(self, result: mqtt_client.ConnectResult) -> None:
        where = f"{self.config.host}:{self.config.effective_port}"
        if not result.ok:
            level: Callable[..., None] = self.log.error if result.auth_refused else self.log.warning
            level("%s refused the connection: %s", where, result.text)
            self.context.report_error("broker", f"{where} refused the connection: {result.text}")
            return
        self.log.info("connected to %s", where)
        self.context.report_error("broker", None)
        filters = sorted({rule.subscription.topic for rule in self.rules})
        self._subscribed = False
        for topic in filters:
            # The SUBACK is handled by this same network thread, after this callback.
            _result, mid = self._client.subscribe(topic, qos=self.config.qos)
            if mid is not None:
                self._pending.add(mid)
        self._subscribed = True

    def _on_subscribe(self, mid: int) -> None:
        self._pending.discard(mid)
        if not self._pending:
            self.log.info("subscribed to %d topic filter(s)", len(self.rules))

    def _on_disconnect(self, text: str, unexpected: bool) -> None:
        if unexpected and not self._stop.is_set():
            self.log.warning("disconnected (%s); reconnecting", text)
            self.context.report_error("broker", f"disconnected: {text}")

    def _make_client(self) -> Any:
        config = self.config
        client = mqtt_client.make_client(
            self.client_id,
            clean_session=config.clean_session,
            reconnect=True,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_message=self._on_message,
            on_subscribe=self._on_subscribe,
        )
        if config.username is not None:
            password = config.password.reveal() if config.password is not None else None
            client.username_pw_set(config.username, password)
        if config.tls:
            mqtt_client.set_tls(client, config.ssl_context())
        client.reconnect_delay_set(
            max(1, int(config.reconnect_min.total_seconds())),
            max(1, int(config.reconnect_max.total_seconds())),
        )
        return client

    def start(self, emit: Emit) -> None:
        """Subscribe and emit until :meth:`stop`; paho reconnects by itself with backoff."""
        self._stop.clear()
        self._failure = None
        self._emit = emit
        if not self.config.tls and (self.config.username or self.config.password) is not None:
            warn_plain_text(self.log, self.config.host, "the MQTT user name and password")
        self._client = self._make_client()
        self._client.connect_async(
            self.config.host,
            self.config.effective_port,
            int(self.config.keepalive.total_seconds()),
        )
        self._client.loop_start()
        try:
            self._stop.wait()
        finally:
            self._client.disconnect()
            self._client.loop_stop()
        if self._failure is not None:
            raise self._failure

    def stop(self) -> None:
        """Make :meth:`start` return."""
        self._stop.set()
