"""The energydata-mqtt sink against a real Mosquitto: TLS, password file, ACL, PUBACKs."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wattbridge import Reading
from wattbridge.testing import Mosquitto, TlsFiles, free_port, wait_until
from wattbridge_plugins.common.mqtt_subscriber import Subscriber
from wattbridge_plugins.sinks.energydata.mqtt.payload import epoch_ms

START = datetime(2026, 1, 1, tzinfo=UTC)
STREAMS = ["meter/import", "meter/power"]


def readings(count: int, streams: list[str] = STREAMS) -> list[Reading]:
    """``count`` readings; every datastream of a second shares its timestamp."""
    return [
        Reading(streams[n % len(streams)], START + timedelta(seconds=n // len(streams)), n * 1.5)
        for n in range(count)
    ]


def expected(items: list[Reading]) -> set[tuple[str, int, Any]]:
    return {(r.stream, epoch_ms(r.timestamp), r.value) for r in items}


PREFIX = "myhouse"  # as the conftest's Edk


def sink_keys(broker: Mosquitto, ca: TlsFiles, **extra: Any) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": broker.tls_port,
        "ca_file": str(ca.ca),
        "token": "edk-token-3f9a1c",
        "password": "edk-password-77b2",
        "prefix": PREFIX,
        "datastreams": STREAMS,
        "connect_timeout": "5s",
        "ack_timeout": "5s",
    }
    keys.update(extra)
    return keys


def test_delivers_over_tls_and_acks_each_reading(
    run_sink: Any, broker: Mosquitto, test_ca: TlsFiles, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(broker, test_ca, window=7, batch=50))
    items = readings(300)
    assert harness.deliver(items) == []
    assert harness.outbox.depth == 0
    wait_until(lambda: len(subscriber.values(PREFIX)) >= 300, message="300 messages")
    assert set(subscriber.values(PREFIX)) == expected(items)
    topics = {topic for topic, _ in subscriber.messages}
    assert topics == {f"{PREFIX}/meter/import", f"{PREFIX}/meter/power"}


def test_multi_value_packs_a_timestamp_into_one_message(
    run_sink: Any, broker: Mosquitto, test_ca: TlsFiles, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(broker, test_ca, multi_value=True))
    items = readings(200)
    assert harness.deliver(items) == []
    wait_until(lambda: len(subscriber.messages) >= 100, message="100 messages")
    time.sleep(0.2)  # nothing more may come
    assert len(subscriber.messages) == 100  # two datastreams a timestamp, one message
    assert {topic for topic, _ in subscriber.messages} == {PREFIX}
    assert set(subscriber.values(PREFIX)) == expected(items)


def test_unknown_datastream_is_deadlettered_and_never_published(
    run_sink: Any, broker: Mosquitto, test_ca: TlsFiles, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(broker, test_ca))
    good = readings(10)
    stray = Reading("meter/secret", START, 1.0)
    letters = harness.deliver([*good[:5], stray, *good[5:]])
    assert [letter.reading.stream for letter in letters] == ["meter/secret"]
    assert "not in this sink's datastreams" in letters[0].reason
    wait_until(lambda: len(subscriber.values(PREFIX)) >= 10, message="10 messages")
    time.sleep(0.2)
    assert set(subscriber.values(PREFIX)) == expected(good)
    assert not any("secret" in topic for topic, _ in subscriber.messages)


def test_typed_datastreams_refuse_values_that_do_not_fit(
    run_sink: Any, broker: Mosquitto, test_ca: TlsFiles, subscriber: Subscriber
) -> None:
    keys = sink_keys(broker, test_ca, datastreams={"count": "integer", "power": "double"})
    harness = run_sink("energydata-mqtt", **keys)
    items = [Reading("count", START, 3), Reading("power", START, 2), Reading("count", START, 2.5)]
    letters = harness.deliver(items)
    assert [letter.reading.value for letter in letters] == [2.5]
    wait_until(lambda: len(subscriber.messages) >= 2, message="2 messages")
    payloads = sorted(payload for _, payload in subscriber.messages)
    ms = epoch_ms(START)
    assert payloads == sorted(
        [
            f'{{"timestamp": {ms}, "value": 3}}'.encode(),
            f'{{"timestamp": {ms}, "value": 2.0}}'.encode(),
        ]
    )


def test_a_ca_that_does_not_match_fails_and_keeps_everything_queued(
    run_sink: Any, broker: Mosquitto, other_ca: TlsFiles, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(broker, other_ca))
    harness.queue(readings(5))
    assert harness.flush() == 0
    status = harness.outbox.status()
    assert status.depth == 5
    assert "not trusted" in status.last_error
    assert not status.halted
    assert subscriber.messages == []


def test_tls_verification_is_on_by_default(
    run_sink: Any, broker: Mosquitto, test_ca: TlsFiles
) -> None:
    keys = sink_keys(broker, test_ca)
    del keys["ca_file"]  # the system's CAs do not know the test CA
    harness = run_sink("energydata-mqtt", **keys)
    harness.queue(readings(1))
    harness.flush()
    assert "not trusted" in harness.outbox.status().last_error


def test_wrong_token_halts_with_a_clear_error_and_never_logs_the_token(
    run_sink: Any,
    broker: Mosquitto,
    test_ca: TlsFiles,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "wrong-token-5d1e0b"
    caplog.set_level(logging.DEBUG)
    harness = run_sink("energydata-mqtt", **sink_keys(broker, test_ca, token=wrong))
    harness.queue(readings(4))
    harness.flush()
    status = harness.outbox.status()
    assert status.halted and "refused the token" in status.halted
    assert status.depth == 4
    # Halted: later flushes do not try again (no retry loop against the broker).
    connects = broker.log_file.read_text().count("New connection")
    for _ in range(3):
        harness.flush()
    assert broker.log_file.read_text().count("New connection") == connects
    assert wrong not in caplog.text and wrong not in status.halted


def test_broker_stopped_and_started_mid_stream_loses_nothing(
    run_sink: Any, broker: Mosquitto, test_ca: TlsFiles, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(broker, test_ca, batch=100, window=20))
    items = readings(3000)
    failures: list[BaseException] = []

    def deliver() -> None:
        try:
            harness.deliver(items, timeout=60)
        except BaseException as exc:
            failures.append(exc)

    thread = threading.Thread(target=deliver)
    thread.start()
    wait_until(lambda: len(subscriber.messages) >= 500, message="500 messages")
    broker.stop()
    time.sleep(0.3)
    assert harness.outbox.depth > 0  # the restart really was mid-stream
    broker.start()
    thread.join(90)
    assert not failures, failures
    wait_until(lambda: expected(items) <= set(subscriber.values(PREFIX)), timeout=30, message="all")
    # At-least-once: messages in flight when the broker went away may come twice.
    assert len(subscriber.values(PREFIX)) >= len(items)


def test_check_tries_the_token_once(run_sink: Any, broker: Mosquitto, test_ca: TlsFiles) -> None:
    run_sink("energydata-mqtt", **sink_keys(broker, test_ca)).sink.check()
    wrong = run_sink("energydata-mqtt", **sink_keys(broker, test_ca, token="not-the-token-9"))
    with pytest.raises(PermissionError) as refused:
        wrong.sink.check()
    assert "not-the-token-9" not in str(refused.value)
    nowhere = run_sink("energydata-mqtt", **sink_keys(broker, test_ca, port=free_port()))
    with pytest.raises(ConnectionError):
        nowhere.sink.check()
