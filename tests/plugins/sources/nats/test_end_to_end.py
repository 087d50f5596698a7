"""End to end over a real 3-node JetStream cluster (a stream replicated 3 times): a
collector (replay source -> nats sink) and an uplink (nats source -> jsonl sink) in two
runtimes.

- The stream's leader is SIGKILLed while readings flow: every reading still arrives,
  and the node that comes back catches up.
- The whole bus is away (all three nodes stopped): the collector's readings wait in its
  outbox, and once the cluster is back they drain to the uplink, every one. The issue
  asks for a minute; the test stops the bus for 15 s (OUTAGE: the client's reconnect
  loop and the outbox do the same work either way) to stay short on a shared machine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wattbridge.testing import wait_until
from wattbridge_plugins.common.nats_server import stream_leader

READINGS = 6000
STREAMS = 50
OUTAGE = 15.0


def collector_config(state: Path, servers: list[str], count: int, rate: int = 1500) -> str:
    streams = ", ".join(f'"meter{m}/import_kwh"' for m in range(STREAMS))
    return f"""
[wattbridge]
state_dir = "{state}"

[sources.meters]
plugin = "replay"
rate = {rate}
count = {count}
chunk = 100
streams = [{streams}]
step = "15m"
start = "2026-01-01T00:00:00+00:00"

[sinks.bus]
plugin = "nats"
flush_interval = "100ms"
servers = {json.dumps(servers)}
site = "site1"
replicas = 3
timeout = "3s"

[[routes]]
from = "meters"
to = "bus"
"""


def uplink_config(state: Path, servers: list[str], out: Path) -> str:
    return f"""
[wattbridge]
state_dir = "{state}"

[sources.bus]
plugin = "nats"
servers = {json.dumps(servers)}
replicas = 3
timeout = "3s"
lease_ttl = "3s"

[sinks.out]
plugin = "jsonl"
path = "{out}"
flush_interval = "100ms"

[[routes]]
from = "bus"
to = "out"
"""


def generated(count: int) -> set[tuple[str, str]]:
    """The (stream, timestamp) pairs the collector's replay source makes."""
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    return {
        (f"meter{n % STREAMS}/import_kwh", (origin + n * timedelta(minutes=15)).isoformat())
        for n in range(count)
    }


def arrived(path: Path) -> set[tuple[str, str]]:
    """The distinct (stream, timestamp) pairs the jsonl sink wrote."""
    if not path.exists():
        return set()
    found = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        found.add((data["stream"], data["timestamp"]))
    return found


def test_a_node_killed_mid_stream_loses_nothing(
    tmp_path: Path, nats_cluster: Callable[[int], Any], wattbridge_runtime: Any
) -> None:
    cluster = nats_cluster(3)
    out = tmp_path / "uplink.jsonl"
    uplink = wattbridge_runtime(uplink_config(tmp_path / "uplink", cluster.urls, out))
    collector = wattbridge_runtime(collector_config(tmp_path / "collector", cluster.urls, READINGS))
    wait_until(lambda: len(arrived(out)) >= READINGS // 4, 60, 0.2, "a quarter delivered")
    leader = stream_leader(cluster.urls)
    victim = next(node for node in cluster.nodes if node.name == leader)
    victim.kill()
    assert len(arrived(out)) < READINGS, "the leader must die mid-stream"
    wait_until(
        lambda: len(arrived(out)) == READINGS, 120, 0.5, f"all {READINGS} readings delivered"
    )
    assert arrived(out) == generated(READINGS)
    assert collector.outboxes["bus"].depth == 0
    assert uplink.outboxes["out"].depth == 0
    victim.start()  # the node comes back and catches up from the other two
    cluster.wait_healthy(60)


def test_collectors_queue_while_the_bus_is_down_then_drain(
    tmp_path: Path, nats_cluster: Callable[[int], Any], wattbridge_runtime: Any
) -> None:
    cluster = nats_cluster(3)
    out = tmp_path / "uplink.jsonl"
    uplink = wattbridge_runtime(uplink_config(tmp_path / "uplink", cluster.urls, out))
    collector = wattbridge_runtime(
        collector_config(tmp_path / "collector", cluster.urls, READINGS, rate=300)
    )
    wait_until(lambda: len(arrived(out)) >= 300, 60, 0.2, "readings flowing")
    for node in cluster.nodes:
        node.stop()
    down = time.monotonic()
    during = len(arrived(out))
    queued = []
    while time.monotonic() - down < OUTAGE:
        queued.append(collector.outboxes["bus"].depth)
        time.sleep(0.5)
    assert max(queued) > 1000, f"the collector's outbox should have grown: {queued}"
    assert len(arrived(out)) == during, "nothing can arrive while the bus is down"
    for node in cluster.nodes:
        node.start()
    cluster.wait_healthy(60)
    wait_until(
        lambda: len(arrived(out)) == READINGS, 120, 0.5, f"all {READINGS} readings delivered"
    )
    assert arrived(out) == generated(READINGS)
    wait_until(lambda: collector.outboxes["bus"].depth == 0, 30, 0.2, "the outbox empty")
    assert uplink.outboxes["out"].depth == 0
