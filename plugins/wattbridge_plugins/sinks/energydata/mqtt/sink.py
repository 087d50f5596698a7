"""The ``energydata-mqtt`` sink: readings to EnergyData.dk's MQTT broker, QoS 1.

A reading leaves the outbox only when the broker's PUBACK for its message arrived. At
most ``window`` messages are unacknowledged at a time, because the platform's broker
queues 1000 messages a client and drops the rest. A lost connection makes every
unacknowledged message a retry; the core's backoff paces the reconnection, since this
sink connects only inside ``send`` and never loops or sleeps by itself.
"""

from __future__ import annotations

import secrets
import ssl
import threading
import time
from collections.abc import Iterator, Sequence

import attrs

from wattbridge import Batch, SendResult, SinkContext, SinkLimits, warn_plain_text
from wattbridge_plugins.common import mqtt_client
from wattbridge_plugins.sinks.energydata.mqtt.config import EnergyDataMqttConfig
from wattbridge_plugins.sinks.energydata.mqtt.payload import (
    DatastreamType,
    UnfitValue,
    json_key,
    multi_value,
    single_value,
    value_json,
)


@attrs.frozen
class Message:
    """One MQTT message to publish and the batch positions of the readings it carries."""

    topic: str
    payload: bytes
    indices: tuple[int, ...]


@attrs.frozen
class Plan:
    """A batch turned into messages, and the readings refused before publishing."""

    messages: list[Message]
    rejected: dict[int, str]


@attrs.frozen
class Topics:
    """Per-datastream facts computed once per sink: type, topic and JSON key."""

    types: dict[str, DatastreamType]
    topics: dict[str, str]
    keys: dict[str, str]

    @classmethod
    def of(cls, config: EnergyDataMqttConfig) -> Topics:
        """The facts for ``config``'s datastreams."""
        types = config.types()
        return cls(
            types,
            {s: config.topic(s) for s in types},
            {s: json_key(s) for s in types},
        )


def plan_batch(config: EnergyDataMqttConfig, batch: Batch, topics: Topics | None = None) -> Plan:
    """Build the messages for ``batch``; readings that may not be published are refused.

    A datastream the config does not name is never published: the platform disconnects
    a client for one unauthorized topic and discards every message it had queued.
    """
    facts = topics or Topics.of(config)
    types = facts.types
    rejected: dict[int, str] = {}
    messages: list[Message] = []
    multi = config.multi_value
    # Multi-value: ms -> open messages, each {suffix: value text} with its indices.
    groups: dict[int, list[tuple[dict[str, str], list[int]]]] = {}
    order: list[tuple[int, int]] = []  # (ms, position in its group) in first-seen order
    columns = batch.columns  # no Reading object a value: a batch is thousands of them
    for index, (stream, epoch_us, value) in enumerate(
        zip(columns.streams, columns.stamps, columns.values, strict=True)
    ):
        kind = types.get(stream)
        if kind is None:
            rejected[index] = (
                f"datastream {stream!r} is not in this sink's datastreams; "
                "not published (the platform disconnects a client for an unknown topic)"
            )
            continue
        try:
            text = value_json(value, kind)
        except UnfitValue as exc:
            rejected[index] = f"datastream {stream!r}: {exc}"
            continue
        ms = epoch_us // 1000  # whole milliseconds, the finer part cut (as epoch_ms does)
        if not multi:
            messages.append(Message(facts.topics[stream], single_value(ms, text), (index,)))
            continue
        # A second value of the same datastream and millisecond cannot share a message
        # (one key each): it opens another message for that timestamp.
        group = groups.get(ms)
        if group is None:
            group = groups[ms] = []
        for values, indices in group:
            if stream not in values:
                values[stream] = text
                indices.append(index)
                break
        else:
            group.append(({stream: text}, [index]))
            order.append((ms, len(group) - 1))
    topic = config.multi_topic
    keys = facts.keys
    for ms, position in order:
        values, indices = groups[ms][position]
        pairs = [(keys[suffix], text) for suffix, text in values.items()]
        messages.append(Message(topic, multi_value(ms, pairs), tuple(indices)))
    return Plan(messages, rejected)


class _Connection:
    """One MQTT connection (one paho client); replaced, never reused, once it is lost."""

    def __init__(self, config: EnergyDataMqttConfig, client_id: str) -> None:
        self.config = config
        self.cond = threading.Condition()
        self.alive = False
        self.answered = False
        self.refusal: mqtt_client.ConnectResult | None = None
        self.lost = ""
        self.acked: set[int] = set()
        self.client = mqtt_client.make_client(
            client_id,
            clean_session=True,
            reconnect=False,
            on_connect=self._on_connect,
            on_disconnect=self._on_disconnect,
            on_publish=self._on_publish,
        )
        password = config.password.reveal() if config.password is not None else None
        self.client.username_pw_set(config.token.reveal(), password)
        if config.tls:
            mqtt_client.set_tls(self.client, config.ssl_context())
        # paho holds back messages beyond its own in-flight limit (20 by default); the
        # window is ours to keep, so let paho send whatever we hand it.
        self.client.max_inflight_messages_set(config.window)
        self.client.max_queued_messages_set(0)
        mqtt_client.set_connect_timeout(self.client, config.connect_timeout.total_seconds())

    # paho's network thread calls these; never call paho while holding self.cond, as
    # paho holds its own locks while calling on_publish (a lock-order deadlock).
    def _on_connect(self, result: mqtt_client.ConnectResult) -> None:
        with self.cond:
            self.answered = True
            self.alive = result.ok
            if not result.ok:
                self.refusal = result
            self.cond.notify_all()
        if not result.ok:
            self.client.disconnect()

    def _on_disconnect(self, text: str, _unexpected: bool) -> None:
        with self.cond:
            self.alive = False
            self.answered = True
            self.lost = self.lost or f"connection lost: {text}"
            self.cond.notify_all()

    def _on_publish(self, mid: int) -> None:
        with self.cond:
            self.acked.add(mid)
            self.cond.notify()

    def connect(self) -> None:
        """Open the socket (TLS handshake included) and wait for the CONNACK.

        Raises OSError (ssl errors included) or TimeoutError; a refusal is in ``refusal``.
        """
        timeout = self.config.connect_timeout.total_seconds()
        self.client.connect(
            self.config.host, self.config.port, int(self.config.keepalive.total_seconds())
        )
        self.client.loop_start()
        with self.cond:
            if not self.cond.wait_for(lambda: self.answered, timeout):
                raise TimeoutError(f"no CONNACK from {self.config.host} within {timeout:g}s")

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        with self.cond:
            self.alive = False
        try:
            self.client.disconnect()
        finally:
            self.client.loop_stop()


class EnergyDataMqttSink:
    """Publishes readings to EnergyData.dk over MQTT with QoS 1; see the module doc."""

    def __init__(self, config: EnergyDataMqttConfig, context: SinkContext) -> None:
        self.config = config
        self.context = context
        self.log = context.logger
        self.limits = SinkLimits(max_batch=config.batch)
        self.topics = Topics.of(config)
        self.client_id = config.client_id or f"wattbridge-{context.name}-{secrets.token_hex(4)}"
        self._connection: _Connection | None = None
        self._halted = ""

    def open(self) -> None:
        """Only a warning for plain text: the connection is made by the first ``send``,
        so a broker that is down at start-up is a retry with backoff, not a failed start."""
        if not self.config.tls:
            warn_plain_text(self.log, self.config.host, "the token (the MQTT user name)")

    def close(self) -> None:
        """Disconnect."""
        self._drop()

    def check(self) -> None:
        """Connect once with the token, as ``send`` would, and disconnect.

        Raises PermissionError when the broker refuses the token, ConnectionError when
        it cannot be reached or refuses for another reason (for set-up forms).
        """
        connection = _Connection(self.config, f"{self.client_id}-check")
        try:
            connection.connect()
            if connection.refusal is not None:
                if connection.refusal.auth_refused:
                    raise PermissionError(connection.refusal.text)
                raise ConnectionError(connection.refusal.text)
            if not connection.alive:
                raise ConnectionError(connection.lost or "the broker closed the connection")
        except (OSError, TimeoutError) as exc:
            if isinstance(exc, PermissionError | ConnectionError):
                raise
            raise ConnectionError(f"{type(exc).__name__}: {exc}") from None
        finally:
            try:
                connection.close()
            except Exception:  # a socket that never opened has nothing to close
                self.log.debug("closing the check connection failed", exc_info=True)

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # a broken socket: nothing left to close cleanly
                self.log.debug("closing the MQTT connection failed", exc_info=True)

    def _connect(self) -> tuple[_Connection | None, str]:
        """The live connection, or None and why not."""
        current = self._connection
        if current is not None and current.alive:
            return current, ""
        self._drop()
        where = f"{self.config.host}:{self.config.port}"
        connection = _Connection(self.config, self.client_id)
        try:
            connection.connect()
        except ssl.SSLCertVerificationError as exc:
            self._close_quietly(connection)
            return None, f"TLS certificate of {where} not trusted: {exc.verify_message}"
        except (OSError, TimeoutError) as exc:
            self._close_quietly(connection)
            return None, f"cannot connect to {where}: {type(exc).__name__}: {exc}"
        if connection.refusal is not None:
            self._close_quietly(connection)
            refusal = connection.refusal
            if refusal.auth_refused:
                self._halted = (
                    f"{where} refused the token ({refusal.text}); check the token "
                    "and that it may write to the dataset with prefix "
                    f"{self.config.prefix!r}"
                )
            return None, f"{where} refused the connection: {refusal.text}"
        if not connection.alive:
            self._close_quietly(connection)
            return None, connection.lost or f"{where} closed the connection"
        self.log.info("connected to %s as client %s", where, self.client_id)
        self._connection = connection
        return connection, ""

    def _close_quietly(self, connection: _Connection) -> None:
        try:
            connection.close()
        except Exception:
            self.log.debug("closing a failed MQTT connection failed", exc_info=True)

    def preview(self, batch: Batch) -> Iterator[tuple[str, str]]:
        """The messages ``send`` would publish, and the readings it would refuse."""
        plan = plan_batch(self.config, batch, self.topics)
        for message in plan.messages:
            yield f"publish to {message.topic} (QoS 1)", message.payload.decode("utf-8")
        for index, reason in sorted(plan.rejected.items()):
            yield f"not published: {batch.readings[index].stream}", reason

    def send(self, batch: Batch) -> SendResult:
        """Publish the batch with at most ``window`` messages unacknowledged; see the module doc."""
        if self._halted:
            return SendResult.halted(self._halted)
        plan = plan_batch(self.config, batch, self.topics)
        if not plan.messages:
            return SendResult.partial(rejected=plan.rejected, requested=False)
        connection, problem = self._connect()
        if connection is None:
            if self._halted:
                return SendResult.halted(self._halted)
            every = [i for m in plan.messages for i in m.indices]
            return SendResult.partial(retry=every, rejected=plan.rejected, reason=problem)
        mids, problem = self._publish(connection, plan.messages)
        acked = connection.acked
        ok: list[int] = []
        retry: list[int] = []
        for message, mid in zip(plan.messages, mids, strict=False):
            (ok if mid in acked else retry).extend(message.indices)
        for message in plan.messages[len(mids) :]:
            retry.extend(message.indices)
        if retry:
            # Unacknowledged messages make this connection's state unknown: start afresh
            # (a new connection after backoff; the broker discards nothing we still need).
            self._drop()
        return SendResult.partial(ok=ok, retry=retry, rejected=plan.rejected, reason=problem)

    def _publish(
        self, connection: _Connection, messages: Sequence[Message]
    ) -> tuple[list[int], str]:
        """Publish in order keeping the window; wait for the PUBACKs. Returns the mids
        published (in order) and, if not all were acknowledged, why."""
        client = connection.client
        cond = connection.cond
        window = self.config.window
        stall = self.config.ack_timeout.total_seconds()
        with cond:
            # Every earlier message was acknowledged (or the connection replaced), so
            # each PUBACK from now on is for this send.
            connection.acked.clear()
        acked = connection.acked
        mids: list[int] = []
        publish = client.publish
        for message in messages:
            if len(mids) - len(acked) >= window:
                with cond:
                    while len(mids) - len(acked) >= window and connection.alive:
                        if not cond.wait(stall):
                            return mids, self._why(connection, mids, stall)
            if not connection.alive:
                return mids, self._why(connection, mids, stall)
            info = publish(message.topic, message.payload, qos=1)
            if not mqtt_client.publish_ok(info):
                return mids, self._why(connection, mids, stall)
            mids.append(info.mid)
        deadline = time.monotonic() + stall
        with cond:
            last = len(acked)
            while len(acked) < len(mids) and connection.alive:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                cond.wait(remaining)
                if len(acked) != last:  # progress: the stall timer starts again
                    last = len(acked)
                    deadline = time.monotonic() + stall
        if len(acked) < len(mids):
            return mids, self._why(connection, mids, stall)
        return mids, ""

    def _why(self, connection: _Connection, mids: Sequence[int], stall: float) -> str:
        waiting = len(mids) - len(connection.acked)
        if not connection.alive:
            # The platform drops a client that publishes where its token may not write,
            # which looks just like a network failure: say so, for when it repeats.
            return (
                f"{connection.lost or 'connection lost'} with {waiting} message(s) "
                "unacknowledged; if this repeats, check that the token may write to "
                f"{self.config.topic('...')}"
            )
        return f"no PUBACK within {stall:g}s ({waiting} message(s) unacknowledged)"
