"""The nats source against a real nats-server (JetStream, one node): acknowledged only
after emit returned, a refused message named and set aside, leases shared fairly and
taken over when their owner stops renewing."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest

from wattbridge import ConfigError, Reading, Stopping
from wattbridge.testing import wait_until
from wattbridge_plugins.common import nats_wire
from wattbridge_plugins.common.nats_bridge import kv_cas_problem
from wattbridge_plugins.sources.nats.leases import PartitionLeases

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def publish(servers: list[str], messages: list[tuple[str, bytes]]) -> None:
    """Make the stream and publish ``messages`` as any publisher might."""

    async def send() -> None:
        connection = await nats.connect(servers=servers)
        try:
            js = connection.jetstream()
            await js.add_stream(name="WATTBRIDGE", subjects=["wattbridge.>"])
            for subject, body in messages:
                await js.publish(subject, body)
        finally:
            await connection.close()

    asyncio.run(send())


def pending(servers: list[str], durable: str) -> tuple[int, int]:
    """The consumer's (messages not yet delivered, delivered but not acknowledged)."""

    async def ask() -> tuple[int, int]:
        connection = await nats.connect(servers=servers)
        try:
            info = await connection.jetstream().consumer_info("WATTBRIDGE", durable)
            return info.num_pending, info.num_ack_pending
        finally:
            await connection.close()

    return asyncio.run(ask())


def good(n: int, offset: int = 0) -> bytes:
    return nats_wire.encode(
        [Reading("meter/kwh", T0 + timedelta(minutes=15 * (i + offset)), i) for i in range(n)]
    )


class Emits:
    """An emit that records, and raises Stopping for the first ``refuse`` calls."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse = refuse
        self.readings: list[Reading] = []

    def __call__(self, readings: Iterable[Reading]) -> None:
        if self.refuse:
            self.refuse -= 1
            raise Stopping
        self.readings += list(readings)


def running(source: Any, emit: Emits) -> threading.Thread:
    thread = threading.Thread(target=source.start, args=(emit,), daemon=True)
    thread.start()
    return thread


def test_acked_only_after_emit_and_bad_messages_set_aside(
    nats_cluster: Callable[[int], Any], run_source: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = nats_cluster(1)
    publish(
        server.urls,
        [
            ("wattbridge.site1.a", good(3)),
            ("wattbridge.site1.b", b'{"readings": [["meter/kwh", "yesterday", 1, "", ""]]}'),
            ("wattbridge.site1.c", good(2, offset=3)),
        ],
    )
    harness = run_source("nats", servers=server.urls, lease_ttl="2s", ack_wait="2s")
    source = harness.source
    emit = Emits(refuse=1)  # wattbridge stopping while the first emit waits
    caplog.set_level(logging.ERROR)
    thread = running(source, emit)
    try:
        wait_until(lambda: len(emit.readings) >= 5, 30, message="all good readings emitted")
        wait_until(lambda: pending(server.urls, "wattbridge-all-0") == (0, 0), 30)
    finally:
        source.stop()
        thread.join(15)
    # The refused first emit was not acked: its messages came again after ack_wait.
    assert sorted(r.timestamp for r in emit.readings) == [
        T0 + timedelta(minutes=15 * i) for i in range(5)
    ]
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert refused and "WATTBRIDGE message 2 (wattbridge.site1.b)" in refused[0]
    assert "epoch_us must be an integer" in refused[0]


def test_leases_are_shared_fairly_and_taken_over(nats_cluster: Callable[[int], Any]) -> None:
    server = nats_cluster(1)
    partitions = ["p0", "p1", "p2", "p3"]
    log = logging.getLogger("test.leases")

    async def scenario() -> dict[str, Any]:
        connection = await nats.connect(servers=server.urls)
        try:
            kv = await connection.jetstream().create_key_value(bucket="leases", ttl=1.5)
            a = PartitionLeases(kv, "a", partitions, 1.5, log)
            b = PartitionLeases(kv, "b", partitions, 1.5, log)
            await a.renew()
            alone = a.owned  # a alone takes everything
            await b.renew()  # b sees two members, takes what is free (nothing yet)
            await a.renew()  # a lets its extra partitions go
            await b.renew()  # b takes them
            shared = (a.owned, b.owned)
            # a stops renewing (dies); its leases run out and b takes them.
            started = asyncio.get_running_loop().time()
            while len(b.owned) < 4:
                await asyncio.sleep(0.5)
                await b.renew()
            takeover = asyncio.get_running_loop().time() - started
            return {"alone": alone, "shared": shared, "takeover": takeover}
        finally:
            await connection.close()

    result = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert result["alone"] == set(partitions)
    a_owned, b_owned = result["shared"]
    assert len(a_owned) == len(b_owned) == 2 and not a_owned & b_owned
    # The member key of the dead one runs out too: the TTL, plus a renewal round's wait.
    assert result["takeover"] < 1.5 * 2 + 5


def test_a_clean_stop_gives_the_leases_back(nats_cluster: Callable[[int], Any]) -> None:
    server = nats_cluster(1)
    log = logging.getLogger("test.leases")

    async def scenario() -> tuple[frozenset[str], frozenset[str]]:
        connection = await nats.connect(servers=server.urls)
        try:
            kv = await connection.jetstream().create_key_value(bucket="leases", ttl=60)
            a = PartitionLeases(kv, "a", ["p0", "p1"], 60, log)
            b = PartitionLeases(kv, "b", ["p0", "p1"], 60, log)
            await a.renew()
            await b.renew()
            before = b.owned
            await a.release_all()
            await b.renew()
            return before, b.owned
        finally:
            await connection.close()

    before, after = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert before == frozenset() and after == {"p0", "p1"}  # no waiting out a 60 s TTL


def test_a_restarted_uplink_takes_its_own_leases_back_at_once(
    nats_cluster: Callable[[int], Any],
) -> None:
    server = nats_cluster(1)
    log = logging.getLogger("test.leases")

    async def scenario() -> tuple[frozenset[str], frozenset[str]]:
        connection = await nats.connect(servers=server.urls)
        try:
            kv = await connection.jetstream().create_key_value(bucket="leases", ttl=60)
            before = PartitionLeases(kv, "a", ["p0", "p1"], 60, log)
            await before.renew()
            # The same uplink restarted (a new process, its leases still in the bucket).
            after = PartitionLeases(kv, "a", ["p0", "p1"], 60, log)
            await after.renew()
            other = PartitionLeases(kv, "b", ["p0", "p1"], 60, log)
            await other.renew()
            return after.owned, other.owned
        finally:
            await connection.close()

    mine, theirs = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert mine == {"p0", "p1"}  # no waiting out a 60 s TTL for its own leases
    assert theirs == frozenset()  # b counts two members, but both partitions are held


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ("partitions = {}", "partitions is empty"),
        ('partitions = { "a.b" = ["wattbridge.>"] }', "letters, digits"),
        ("partitions = { a = [] }", "'a' has no subjects"),
        ('partitions = { a = ["wattbridge.>.x"] }', "'>' must be the last token"),
        ('partitions = { a = ["wattbridge..x"] }', "may not be empty"),
        ('uplink = "host.example"', "uplink 'host.example'"),
        ('lease_bucket = "a.b"', "lease_bucket"),
        ('lease_ttl = "500ms"', "lease_ttl"),
        (
            'servers = ["nats://nats.example.net:4222"]',
            "would go in clear text to nats.example.net",
        ),
    ],
)
def test_config_mistakes_are_named(
    wattbridge_config: Callable[[str], Any], table: str, says: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        wattbridge_config(f'[sources.bus]\nplugin = "nats"\n{table}\n')
    assert says in str(caught.value)


def test_shared_limits_must_name_a_sink(wattbridge_runtime: Any) -> None:
    with pytest.raises(ValueError, match=r"shared_limits names \['energinet'\]"):
        wattbridge_runtime(
            '[sources.bus]\nplugin = "nats"\nshared_limits = ["energinet"]\n'
            '[sinks.out]\nplugin = "jsonl"\n[[routes]]\nfrom = "bus"\nto = "out"\n'
        )


def test_replicated_leases_need_a_server_with_serialized_compare_and_set() -> None:
    # nats-io/nats-server#4320: before 2.9.21 two updates naming one revision of an R3
    # KV key can both succeed (seen here: two uplinks both took one sender's window).
    problem = kv_cas_problem((2, 9, 10), replicas=3)
    assert problem is not None and "2.9.10" in problem and "2.9.21" in problem
    assert kv_cas_problem((2, 9, 10), replicas=1) is None
    assert kv_cas_problem((2, 9, 21), replicas=3) is None
    assert kv_cas_problem((2, 15, 1), replicas=3) is None
