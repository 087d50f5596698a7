"""The energydata-mqtt sink against the EnergyData sandbox's MQTT door: TLS, the token
as user name, write rights per datastream, PUBACKs after authorization."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from wattbridge import Reading
from wattbridge.testing import TlsFiles, free_port, wait_until
from wattbridge_plugins.common.energydata_csv import parse_timestamp
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


PREFIX = "myhouse"  # as the conftest's


def sink_keys(sandbox: Any, ca: Any = None, **extra: Any) -> dict[str, Any]:
    """The sink's keys for the sandbox; ``ca`` another CA's files (default: the
    sandbox's own CA)."""
    keys: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": sandbox.port,
        "ca_file": str(ca.ca if ca is not None else sandbox.ca_file),
        "token": sandbox.tokens["write"],
        "prefix": PREFIX,
        "datastreams": STREAMS,
        "connect_timeout": "5s",
        "ack_timeout": "5s",
    }
    keys.update(extra)
    return keys


def test_delivers_over_tls_and_acks_each_reading(
    run_sink: Any, sandbox: Any, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(sandbox, window=7, batch=50))
    items = readings(300)
    assert harness.deliver(items) == []
    assert harness.outbox.depth == 0
    wait_until(lambda: len(subscriber.values(PREFIX)) >= 300, message="300 messages")
    assert set(subscriber.values(PREFIX)) == expected(items)
    topics = {topic for topic, _ in subscriber.messages}
    assert topics == {f"{PREFIX}/meter/import", f"{PREFIX}/meter/power"}


def test_multi_value_packs_a_timestamp_into_one_message(
    run_sink: Any, sandbox: Any, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(sandbox, multi_value=True))
    items = readings(200)
    assert harness.deliver(items) == []
    wait_until(lambda: len(subscriber.messages) >= 100, message="100 messages")
    time.sleep(0.2)  # nothing more may come
    assert len(subscriber.messages) == 100  # two datastreams a timestamp, one message
    assert {topic for topic, _ in subscriber.messages} == {PREFIX}
    assert set(subscriber.values(PREFIX)) == expected(items)


def test_unknown_datastream_is_deadlettered_and_never_published(
    run_sink: Any, sandbox: Any, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(sandbox))
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
    run_sink: Any, sandbox: Any, subscriber: Subscriber
) -> None:
    keys = sink_keys(sandbox, datastreams={"count": "integer", "power": "double"})
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
    run_sink: Any, sandbox: Any, other_ca: TlsFiles, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(sandbox, other_ca))
    harness.queue(readings(5))
    assert harness.flush() == 0
    status = harness.outbox.status()
    assert status.depth == 5
    assert "not trusted" in status.last_error
    assert not status.halted
    assert subscriber.messages == []


def test_tls_verification_is_on_by_default(run_sink: Any, sandbox: Any) -> None:
    keys = sink_keys(sandbox)
    del keys["ca_file"]  # the system's CAs do not know the test CA
    harness = run_sink("energydata-mqtt", **keys)
    harness.queue(readings(1))
    harness.flush()
    assert "not trusted" in harness.outbox.status().last_error


def test_wrong_token_halts_with_a_clear_error_and_never_logs_the_token(
    run_sink: Any,
    sandbox: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    wrong = "wrong-token-5d1e0b"
    caplog.set_level(logging.DEBUG)
    harness = run_sink("energydata-mqtt", **sink_keys(sandbox, token=wrong))
    harness.queue(readings(4))
    harness.flush()
    status = harness.outbox.status()
    assert status.halted and "refused the token" in status.halted
    assert status.depth == 4
    # Halted: later flushes do not try again (no retry loop against the broker).
    connects = sandbox.connections
    for _ in range(3):
        harness.flush()
    assert sandbox.connections == connects
    assert wrong not in caplog.text and wrong not in status.halted


def test_broker_stopped_and_started_mid_stream_loses_nothing(
    run_sink: Any, sandbox: Any, subscriber: Subscriber
) -> None:
    harness = run_sink("energydata-mqtt", **sink_keys(sandbox, batch=100, window=20))
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
    sandbox.stop()
    time.sleep(0.3)
    assert harness.outbox.depth > 0  # the restart really was mid-stream
    sandbox.start()
    thread.join(90)
    assert not failures, failures
    # What the platform stored, not what a subscriber saw: the subscriber reconnects after
    # the restart too, and what was published before it had subscribed again passed it by.
    wait_until(lambda: expected(items) <= stored_readings(sandbox), timeout=30, message="all")
    assert len(subscriber.values(PREFIX)) >= 500  # it did watch the stream before the stop


def stored_readings(sandbox: Any) -> set[tuple[str, int, Any]]:
    """The sandbox's stored values as (stream, epoch ms, value), whichever door they came by."""
    names = {
        ds_id: datastream.topic.removeprefix(f"{PREFIX}/")
        for ds_id, datastream in sandbox.store.datastreams().items()
    }
    return {(names[ds_id], ms, value) for (ds_id, ms), value in sandbox.stored().items()}


def test_check_tries_the_token_once(run_sink: Any, sandbox: Any) -> None:
    run_sink("energydata-mqtt", **sink_keys(sandbox)).sink.check()
    wrong = run_sink("energydata-mqtt", **sink_keys(sandbox, token="not-the-token-9"))
    with pytest.raises(PermissionError) as refused:
        wrong.sink.check()
    assert "not-the-token-9" not in str(refused.value)
    nowhere = run_sink("energydata-mqtt", **sink_keys(sandbox, port=free_port()))
    with pytest.raises(ConnectionError):
        nowhere.sink.check()


def test_a_wrong_prefix_is_noticed_as_a_disconnect_and_nothing_counts_as_sent(
    run_sink: Any, sandbox: Any, subscriber: Subscriber
) -> None:
    # The platform disconnects a client that publishes where it may not write.
    harness = run_sink("energydata-mqtt", **sink_keys(sandbox, prefix="notmine"))
    harness.queue(readings(6))
    assert harness.flush() == 0
    status = harness.outbox.status()
    assert status.depth == 6  # nothing acknowledged, nothing lost
    assert "connection lost" in status.last_error and "may write to notmine/" in status.last_error
    refused = sandbox.events_of("disconnected")
    assert refused and refused[0].topic.startswith("notmine/")
    assert sandbox.stored() == {}
    time.sleep(0.2)
    assert subscriber.messages == []


def test_what_is_published_over_mqtt_is_fetched_over_http(
    run_sink: Any, sandbox: Any, wattbridge_sandbox: Any
) -> None:
    # One platform, two doors: the batch sandbox's fetch API serves the MQTT door's values.
    http = wattbridge_sandbox("energydata")
    harness = run_sink("energydata-mqtt", **sink_keys(sandbox, multi_value=True))
    items = readings(20)
    assert harness.deliver(items) == []
    answer = requests.get(
        f"{http.url}/api/v1/datastreams/values",
        params={"ids": "myhouse/meter/import,myhouse/meter/power",
                "from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"},
        headers={"Accept": "application/json", "Authorization": f"Bearer {http.tokens['read']}"},
        timeout=10,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    rows = [line.split(";") for line in answer.text.splitlines()]
    assert rows[0] == ["", "myhouse/meter/import", "myhouse/meter/power"]
    fetched = {
        (rows[0][column].removeprefix("myhouse/"), parse_timestamp(row[0]), float(text))
        for row in rows[1:]
        for column, text in enumerate(row[1:], start=1)
        if text != ""
    }
    assert fetched == expected(items)
