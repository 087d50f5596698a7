"""The nats sink against a real nats-server (JetStream, one node): subjects, the
message id that makes a repeat a duplicate, acks only on JetStream's PubAck, and the
config's refusals."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest

from wattbridge import Batch, ConfigError, Reading
from wattbridge_plugins.common import nats_wire

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def readings(n: int, stream: str = "house/main_kwh") -> list[Reading]:
    return [Reading(stream, T0 + timedelta(minutes=15 * i), i * 0.25, "kWh") for i in range(n)]


def stored(servers: list[str], stream: str = "WATTBRIDGE") -> list[tuple[str, bytes, str]]:
    """Every message in the stream: subject, body, Nats-Msg-Id."""

    async def read() -> list[tuple[str, bytes, str]]:
        connection = await nats.connect(servers=servers)
        try:
            js = connection.jetstream()
            info = await js.stream_info(stream)
            found = []
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg(stream, sequence)
                headers = message.headers or {}
                found.append((message.subject, message.data, headers.get("Nats-Msg-Id", "")))
            return found
        finally:
            await connection.close()

    return asyncio.run(read())


def test_readings_land_on_their_subjects_and_read_back(
    nats_cluster: Callable[[int], Any], run_sink: Any
) -> None:
    server = nats_cluster(1)
    harness = run_sink("nats", servers=server.urls, site="site7", message_readings=3)
    odd = readings(2, "attic.meter 2*")
    assert harness.deliver(readings(7) + odd) == []
    messages = stored(server.urls)
    subjects = [subject for subject, _, _ in messages]
    assert subjects == ["wattbridge.site7.house/main_kwh"] * 3 + [
        "wattbridge.site7.attic%2Emeter%202%2A"
    ]
    decoded = [r for _, body, _ in messages for r in nats_wire.decode(body, "test")]
    assert decoded == readings(7) + odd
    assert all(ident == nats_wire.message_id(s, b) for s, b, ident in messages)


def test_a_batch_sent_again_is_a_duplicate_to_the_stream(
    nats_cluster: Callable[[int], Any], run_sink: Any
) -> None:
    server = nats_cluster(1)
    harness = run_sink("nats", servers=server.urls, site="site7")
    batch = Batch(readings(5), list(range(1, 6)))
    first = harness.sink.send(batch)
    again = harness.sink.send(batch)  # as after an ack lost on the way back
    assert first.ok == again.ok == frozenset(range(5))
    assert len(stored(server.urls)) == 1


def test_no_pub_ack_no_ack(nats_cluster: Callable[[int], Any], run_sink: Any) -> None:
    server = nats_cluster(1)
    # The stream holds other subjects: nobody stores the sink's, so no PubAck comes.
    harness = run_sink(
        "nats", servers=server.urls, site="site7", stream_subjects=["other.>"], timeout="1s"
    )
    harness.queue(readings(3))
    assert harness.flush() == 0
    status = harness.opened.status()
    assert status.depth == 3
    assert "wattbridge.site7.house/main_kwh" in (status.last_error or "")


@pytest.mark.parametrize(
    ("keys", "says"),
    [
        ({"servers": ["nats://10.1.2.3:4222"]}, "would go in clear text to 10.1.2.3"),
        ({"servers": ["http://127.0.0.1:4222"]}, "is not nats://"),
        ({"servers": ["nats://u:p@127.0.0.1:4222"]}, "not the URL"),
        ({"site": "a.b"}, "one token"),
        ({"subject": "{prefix}.*.{stream}"}, "no wildcards"),
        ({"subject": "{prefix}.{meter}"}, "use {prefix}"),
        ({"prefix": "a..b"}, "dot-separated"),
        ({"stream": "bad.name"}, "letters, digits"),
    ],
)
def test_config_mistakes_are_named(
    wattbridge_config: Callable[[str], Any], keys: dict[str, Any], says: str
) -> None:
    table = {"site": "site7", **keys}
    lines = [f"{key} = {value!r}".replace("'", '"') for key, value in table.items()]
    text = '[sinks.bus]\nplugin = "nats"\n' + "\n".join(lines) + "\n"
    with pytest.raises(ConfigError) as caught:
        wattbridge_config(text)
    assert says in str(caught.value)


def test_plain_text_to_a_remote_host_when_asked(wattbridge_config: Callable[[str], Any]) -> None:
    config = wattbridge_config(
        '[sinks.bus]\nplugin = "nats"\nsite = "s"\nservers = ["nats://10.1.2.3:4222"]\n'
        "insecure = true\n"
    )
    assert config.sinks["bus"].config.insecure


def test_a_refused_token_is_never_in_the_error_or_the_log(
    nats_cluster: Callable[..., Any], run_sink: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = nats_cluster(1, token="right-token-4f9a")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as caught:
        run_sink("nats", servers=server.urls, site="s", token="wrong-token-77c1", timeout="2s")
    text = f"{caught.value!r} {caught.value}" + caplog.text
    assert "Authorization" in text or "authorization" in text
    assert "wrong-token-77c1" not in text and "right-token-4f9a" not in text
    harness = run_sink("nats", servers=server.urls, site="s", token="right-token-4f9a")
    assert harness.deliver(readings(2)) == []


def test_no_server_answering_is_a_connection_error_naming_the_servers(run_sink: Any) -> None:
    from wattbridge.testing import free_port

    server = f"nats://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectionError, match=f"no NATS server of {server} answered within 2s"):
        run_sink("nats", servers=[server], site="s", timeout="1s")
