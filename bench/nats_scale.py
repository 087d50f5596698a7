"""Benchmark: scale-out on NATS JetStream, simulated on this machine.

    python bench/nats_scale.py [--meters 10000] [--collectors 10] [--quarters 6]
                               [--rate 500] [--window 1.0]

Starts a 3-node nats-server cluster on loopback (the stream replicated 3 times) and the
energinet sandbox (one sender profile per collector site, its window shortened to
``--window`` seconds), then, in the same run:

- wattbridge: ``--collectors`` ``wattbridge`` processes, each a replay source of
  ``--meters / --collectors`` meters (quarter-hour values, sped up: ``--rate`` values a
  second, each a quarter-hour after the one before, the site's meters in turn) into a
  nats sink; two uplink
  processes (nats source with partition leases and shared rate limits -> energinet sink)
  into the sandbox;
- baseline, afterwards: bare nats-py publishing the very messages the collectors
  published (read back from the stream: the same subjects, bodies and sizes), one task
  per site, each message awaiting its ack as the sink's do, into a second stream of the
  same cluster.

Printed: readings per second end to end (first emit to last value stored by the
sandbox), p50/p99 latency from emit (the collector's bus) to the platform (the sandbox
storing it), and the bare nats-py rate with wattbridge's share of it. The latency
includes the energinet window (one request per sender per ``--window``). The collectors'
subject is ``{prefix}.{site}`` (no stream token): with 1,000 meters a site, a message
then carries many readings; per-stream subjects make one message a reading.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wattbridge import Reading, hookimpl
from wattbridge.commands import Runtime, load_config, load_plugins
from wattbridge.testing import (
    outbox_depth,
    program_environment,
    start_wattbridge,
    stop_wattbridge,
)
from wattbridge_plugins.common import nats_wire
from wattbridge_plugins.common.nats_server import NatsCluster, lease_owners

MESSAGE_READINGS = 500
SINK_BATCH = 1000
ORIGIN = (datetime.now(UTC) - timedelta(days=365)).replace(minute=0, second=0, microsecond=0)
QUARTER = timedelta(minutes=15)


# -- the readings, as the replay source makes them ------------------------------------


def site_streams(site: int, meters: int) -> list[str]:
    return [f"site{site}/m{m}" for m in range(meters)]


def meter_id(stream: str) -> str:
    site, meter = stream.split("/")
    return f"{site.upper()}{meter.upper()}"


# -- configs --------------------------------------------------------------------------


def collector_config(site: int, state: Path, servers: list[str], args: Any) -> str:
    meters = args.meters // args.collectors
    return f"""
[wattbridge]
state_dir = "{state}"

[sources.meters{site}]
plugin = "replay"
rate = {args.rate}
count = {meters * args.quarters}
chunk = 100
streams = {json.dumps(site_streams(site, meters))}
step = "15m"
start = "{ORIGIN.isoformat()}"

[sinks.bus]
plugin = "nats"
flush_interval = "100ms"
servers = {json.dumps(servers)}
site = "site{site}"
subject = "{{prefix}}.{{site}}"
replicas = 3
batch = {SINK_BATCH}
message_readings = {MESSAGE_READINGS}

[[routes]]
from = "meters{site}"
to = "bus"
"""


def uplink_config(
    name: str, state: Path, servers: list[str], url: str, tokens: dict[int, str], args: Any
) -> str:
    meters = args.meters // args.collectors
    partitions = ", ".join(f'sender{k} = ["wattbridge.site{k}"]' for k in tokens)
    lines = [
        "[wattbridge]",
        f'state_dir = "{state}"',
        'log_level = "warning"',
        "[sources.bus]",
        'plugin = "nats"',
        f"servers = {json.dumps(servers)}",
        "replicas = 3",
        f'uplink = "{name}"',
        'lease_ttl = "6s"',
        'shared_limits = ["en"]',
        "fetch = 50",
        f"partitions = {{ {partitions} }}",
        "[sinks.en]",
        'plugin = "energinet"',
        'flush_interval = "200ms"',
        f'url = "{url}"',
        f'request_interval = "{int(args.window * 1000)}ms"',
        'request_margin = "100ms"',
    ]
    for site, token in tokens.items():
        mapping = ", ".join(f'"{s}" = "{meter_id(s)}"' for s in site_streams(site, meters))
        lines += [f"[sinks.en.senders.sender{site}]", f'token = "{token}"']
        lines += [f"meters = {{ {mapping} }}"]
    lines += ["[[routes]]", 'from = "bus"', 'to = "en"']
    return "\n".join(lines) + "\n"


# -- the baseline: bare nats-py -------------------------------------------------------


def published(servers: list[str]) -> dict[str, list[bytes]]:
    """The messages the collectors published, by subject, in the stream's order."""
    import nats

    async def read() -> dict[str, list[bytes]]:
        connection = await nats.connect(servers=servers)
        try:
            js = connection.jetstream(timeout=30)
            info = await js.stream_info("WATTBRIDGE")
            found: dict[str, list[bytes]] = {}
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await js.get_msg("WATTBRIDGE", sequence)
                found.setdefault(message.subject, []).append(message.data)
            return found
        finally:
            await connection.close()

    return asyncio.run(read())


def baseline(servers: list[str], messages: dict[str, list[bytes]]) -> tuple[int, float]:
    """(readings, seconds) for bare nats-py publishing the very messages the collectors
    published: one task a site, each message awaiting its ack as the sink does, into a
    second stream of the same cluster."""
    import nats

    readings = sum(
        len(nats_wire.decode(b, "bench")) for bodies in messages.values() for b in bodies
    )

    async def run() -> float:
        connection = await nats.connect(servers=servers)
        try:
            js = connection.jetstream(timeout=30)
            await js.add_stream(
                name="BASELINE", subjects=["baseline.>"], num_replicas=3, duplicate_window=120
            )

            async def site(subject: str, bodies: list[bytes]) -> None:
                subject = "baseline." + subject.split(".", 1)[1]
                for body in bodies:
                    ident = nats_wire.message_id(subject, body)
                    await js.publish(subject, body, headers={"Nats-Msg-Id": ident})

            started = time.perf_counter()
            await asyncio.gather(*(site(s, b) for s, b in messages.items()))
            return time.perf_counter() - started
        finally:
            await connection.close()

    return readings, asyncio.run(run())


# -- the collector processes ----------------------------------------------------------


class EmitClock:
    """Notes when each reading reaches the collector's bus (emit), for the latency."""

    def __init__(self) -> None:
        self.emitted: dict[tuple[str, int], float] = {}

    @hookimpl
    def wattbridge_transform_reading(self, reading: Reading, source: str, sink: str) -> None:
        self.emitted.setdefault((reading.stream, reading.epoch_us), time.time())


def run_collector(config: Path, emits: Path, count: int) -> None:
    """One collector process: run the config until its ``count`` readings were emitted
    and published (the outbox empty), then write the emit times."""
    clock = EmitClock()
    registry = load_plugins(extra=[clock])
    runtime = Runtime(load_config(config, registry), registry)
    runtime.start()
    try:
        # Not run_forever(until_idle=...): under load the first emit may come later
        # than any idle time after start-up. Nor "all emitted and the outbox empty":
        # readings are counted as emitted just before they are queued.
        while sum(o.status().sent_total for o in runtime.outboxes.values()) < count:
            time.sleep(0.2)
    finally:
        runtime.stop()
    rows = [[stream, us, at] for (stream, us), at in clock.emitted.items()]
    emits.write_text(json.dumps(rows), encoding="utf-8")


# -- the platform's side: when each value was stored ----------------------------------


class StoreClock:
    """Wraps the sandbox's import handler to note when each value was stored."""

    def __init__(self, sandbox: Any) -> None:
        self.stored: dict[tuple[str, str], float] = {}
        self.lock = threading.Lock()
        original = sandbox.handle_import

        def handle(token: str | None, size: int, read: Any) -> tuple[int, Any]:
            body: list[bytes] = []

            def reading() -> bytes:
                body.append(read())
                return body[0]

            status, answer = original(token, size, reading)
            now = time.time()
            if status == 200 and body:
                verdicts = {a["meterID"]: a["status"] for a in answer}
                with self.lock:
                    for item in json.loads(body[0]):
                        if verdicts.get(item["meterID"]) == 201:
                            for stamp, _value in item["values"]:
                                self.stored.setdefault((item["meterID"], stamp), now)
            return status, answer

        sandbox.handle_import = handle

    def count(self) -> int:
        with self.lock:
            return len(self.stored)


def diagnosis(clock: StoreClock, total: int, servers: list[str], folder: Path) -> str:
    """Why the run did not finish: values stored per site, the leases, the collectors'
    queues and every warning the processes logged."""
    per_site: dict[str, int] = {}
    with clock.lock:
        for meter, _stamp in clock.stored:
            site = meter.split("M", 1)[0]
            per_site[site] = per_site.get(site, 0) + 1
    lines = [
        f"{clock.count()} of {total} stored in time; by site {sorted(per_site.items())}",
        f"leases {sorted(lease_owners(servers).items())}",
    ]
    for outbox in sorted(folder.glob("*/outbox/*.sqlite")):
        depth = outbox_depth(outbox)
        lines.append(f"{outbox.relative_to(folder)}: {depth} queued")
    for log in sorted(folder.glob("*.log")):
        warnings = [line for line in log.read_text().splitlines() if "apscheduler" not in line]
        lines += [f"{log.name}: {line}" for line in warnings[-5:]]
    return "\n".join([*lines, f"see {folder}"])


def start_collector(arguments: list[str], log: Path) -> subprocess.Popen[bytes]:
    """This file as a collector process (see :func:`run_collector`)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, __file__, "collector", *arguments],
            env=program_environment(),
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        stop_wattbridge(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--collectors", type=int, default=10)
    parser.add_argument("--quarters", type=int, default=6, help="quarter-hours a meter")
    parser.add_argument("--rate", type=float, default=500, help="readings/s a collector")
    parser.add_argument("--window", type=float, default=1.0, help="energinet window, s")
    parser.add_argument("--timeout", type=float, default=180)
    args = parser.parse_args()
    meters = args.meters // args.collectors
    total = meters * args.collectors * args.quarters

    folder = Path(tempfile.mkdtemp(prefix="wattbridge-nats-bench-"))
    cluster = NatsCluster(folder / "cluster", 3).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        sandbox = load_plugins().sandboxes["energinet"].start("127.0.0.1", 0, folder / "sandbox")
        sandbox.window = args.window
        clock = StoreClock(sandbox)
        tokens = {k: sandbox.add_sender(f"sender{k}") for k in range(args.collectors)}
        sandbox.add_meters(
            meter_id(s) for k in range(args.collectors) for s in site_streams(k, meters)
        )
        for name in ("A", "B"):
            config = folder / f"uplink-{name}.toml"
            config.write_text(
                uplink_config(name, folder / name, cluster.urls, sandbox.url, tokens, args)
            )
            config.chmod(0o600)
            processes.append(start_wattbridge(config, log=folder / f"uplink-{name}.log"))
        deadline = time.monotonic() + 120
        while sorted(set(lease_owners(cluster.urls).values())) != ["A", "B"]:
            if time.monotonic() > deadline:
                raise SystemExit(f"the uplinks did not share the partitions; see {folder}")
            time.sleep(0.5)
        collectors = []
        for site in range(args.collectors):
            config = folder / f"collector-{site}.toml"
            config.write_text(collector_config(site, folder / f"c{site}", cluster.urls, args))
            emits = folder / f"emits-{site}.json"
            collectors.append(emits)
            processes.append(
                start_collector(
                    [str(config), str(emits), str(meters * args.quarters)],
                    folder / f"collector-{site}.log",
                )
            )
        deadline = time.monotonic() + args.timeout
        while clock.count() < total:
            if time.monotonic() > deadline:
                raise SystemExit(diagnosis(clock, total, cluster.urls, folder))
            time.sleep(0.5)
        while not all(path.exists() for path in collectors):
            if time.monotonic() > deadline:
                raise SystemExit(f"collectors did not finish; see {folder}")
            time.sleep(0.5)

        stop_all(processes)  # the uplinks, before the stream is read
        messages = published(cluster.urls)
        base_readings, base_seconds = baseline(cluster.urls, messages)
        base_rate = base_readings / base_seconds
        sizes = [len(nats_wire.decode(b, "bench")) for bodies in messages.values() for b in bodies]

        emitted: dict[tuple[str, str], float] = {}
        for path in collectors:
            for stream, epoch_us, at in json.loads(path.read_text()):
                stamp = datetime.fromtimestamp(epoch_us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M")
                emitted[(meter_id(stream), stamp)] = at
        latencies = sorted(clock.stored[key] - at for key, at in emitted.items())
        span = max(clock.stored.values()) - min(emitted.values())
        rate = total / span
        emitting = total / (max(emitted.values()) - min(emitted.values()))
        cuts = statistics.quantiles(latencies, n=100)
        print(
            f"{args.meters} meters, {args.collectors} collector processes, 3-node cluster "
            f"(R3), 2 uplinks, energinet sandbox (window {args.window:g}s); {total} readings"
        )
        print(
            f"  bare nats-py publishing : {base_rate:10.0f} readings/s (the collectors' "
            f"{len(sizes)} messages, {statistics.mean(sizes):.0f} readings each on average)"
        )
        print(
            f"  wattbridge end to end   : {rate:10.0f} readings/s "
            f"({rate / base_rate:.3f} of bare publishing; "
            f"offered {args.rate * args.collectors:g}/s)"
        )
        print(f"  collectors emitted      : {emitting:10.0f} readings/s")
        print(f"  latency emit->platform  : p50 {cuts[49]:.2f}s, p99 {cuts[98]:.2f}s")
        sandbox.stop()
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        stop_all(processes)
        cluster.stop()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "collector":
        run_collector(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
