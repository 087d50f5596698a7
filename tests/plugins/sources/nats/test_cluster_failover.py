"""End to end over a real 3-node JetStream cluster (a stream replicated 3 times): a
collector (replay source -> nats sink) and an uplink (nats source -> jsonl sink) in two
runtimes. One node is SIGKILLed while readings flow; every reading still arrives, and
the node that comes back catches up."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wattbridge.testing import wait_until
from wattbridge_plugins.common.nats_server import stream_leader

READINGS = 6000
STREAMS = 50


def collector_config(state: Path, servers: list[str], count: int, site: str = "site1") -> str:
    streams = ", ".join(f'"meter{m}/import_kwh"' for m in range(STREAMS))
    return f"""
[wattbridge]
state_dir = "{state}"

[sources.meters]
plugin = "replay"
rate = 1500
count = {count}
chunk = 100
streams = [{streams}]
step = "15m"
start = "2026-01-01T00:00:00+00:00"

[sinks.bus]
plugin = "nats"
flush_interval = "100ms"
servers = {json.dumps(servers)}
site = "{site}"
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
    origin = datetime(2026, 1, 1, tzinfo=UTC)
    expected = {
        (f"meter{n % STREAMS}/import_kwh", (origin + n * timedelta(minutes=15)).isoformat())
        for n in range(READINGS)
    }
    assert arrived(out) == expected
    assert collector.outboxes["bus"].depth == 0
    assert uplink.outboxes["out"].depth == 0
    victim.start()  # the node comes back and catches up from the other two
    cluster.wait_healthy(60)
