"""How well the energinet sink fills the platform's 0.5 MB and its 10-minute windows.

A large backlog (by default 5 sender profiles x 10 meters x 90 days of quarter-hour
readings) is drained by the real sink and the core's delivery worker into the sandbox
over HTTP, on a clock shared by both and moved one 10-minute window at a time. Printed:

- the mean request body as a share of 500,000 bytes (all requests, and all but each
  sender's last, which holds only what is left);
- the windows the drain took against the least possible: for each sender, its readings
  written as one body (every meter's header once) divided by 500,000, rounded up; the
  drain can take no fewer windows than the largest of those;
- side by side, a baseline packer that sends a fixed number of readings per request,
  sized so the longest possible entry would still fit (what a packer without
  incremental sizes must do to be safe).

Run: /work/venv/bin/python bench/energinet_packing.py [--senders 5 --meters 10 --days 90]
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wattbridge import Reading
from wattbridge._config import config_from_data
from wattbridge._delivery import SinkWorker
from wattbridge._outbox import Outbox, OutboxState
from wattbridge._plugins import load_plugins
from wattbridge._sinks import SinkContext
from wattbridge_plugins.sinks.energinet.payload import TimeFormat, pack
from wattbridge_plugins.sinks.energinet.sandbox import start as start_sandbox

LIMIT = 500_000
LONGEST_VALUE = len(repr(-1.2345678901234567e-300))  # the longest float repr there is


def backlog(senders: int, meters: int, days: int) -> dict[str, list[Reading]]:
    """Sender -> its readings, oldest first, all meters interleaved as a source emits them."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=days)
    result: dict[str, list[Reading]] = {f"sender{s}": [] for s in range(senders)}
    for step in range(days * 96):
        stamp = start + timedelta(minutes=15 * step)
        for s in range(senders):
            for m in range(meters):
                value = round(250.0 + 10 * m + 0.37 * step, 3)
                result[f"sender{s}"].append(Reading(f"s{s}m{m}", stamp, value))
    return result


def least_windows(readings: dict[str, list[Reading]], meter_of: dict[str, str]) -> int:
    """The fewest windows any packer could need: the largest sender's one-body size / limit."""
    fmt = TimeFormat()
    oldest = datetime(1970, 1, 1, tzinfo=UTC)
    most = 0
    for items in readings.values():
        body = pack(items, meter_of.get, limit=10**12, time_format=fmt, oldest=oldest).body
        most = max(most, math.ceil(len(body) / LIMIT))
    return most


def fixed_count_baseline(
    readings: dict[str, list[Reading]], meter_of: dict[str, str]
) -> tuple[float, int]:
    """Mean share of the limit and windows for fixed-size batches safe for any value."""
    fmt = TimeFormat()
    oldest = datetime(1970, 1, 1, tzinfo=UTC)
    worst_entry = len('["",],') + fmt.shortest + LONGEST_VALUE
    worst_header = len('{"meterID":"","values":[]},') + max(len(m) for m in meter_of.values())
    count = (LIMIT - 2) // worst_entry - worst_header * len(meter_of) // worst_entry
    sizes: list[int] = []
    windows = 0
    for items in readings.values():
        chunks = [items[i : i + count] for i in range(0, len(items), count)]
        windows = max(windows, len(chunks))
        for chunk in chunks:
            sizes.append(
                len(pack(chunk, meter_of.get, limit=10**12, time_format=fmt, oldest=oldest).body)
            )
    return statistics.mean(sizes) / LIMIT, windows


def drain(readings: dict[str, list[Reading]], meters: dict[str, dict[str, str]]) -> list[Any]:
    """Drain the backlog through the sink into the sandbox; returns the request log."""
    registry = load_plugins(entry_points=False)
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder)
        sandbox = start_sandbox("127.0.0.1", 0, state / "sandbox")
        try:
            sandbox.add_meters(m for sender in meters.values() for m in sender.values())
            senders = {
                name: {"token": sandbox.add_sender(name), "meters": meter_map}
                for name, meter_map in meters.items()
            }
            data = {
                "sinks": {"en": {"plugin": "energinet", "url": sandbox.url, "senders": senders}}
            }
            config = config_from_data(data, state / "bench.toml", registry).sinks["en"].config
            now = [sandbox.clock.now()]
            outbox = Outbox(state / "outbox.sqlite", synchronous="NORMAL")
            context = SinkContext("en", state, logging.getLogger("bench"), OutboxState(outbox))
            sink = registry.sinks["energinet"].factory(config, context)
            sink.clock = lambda: now[0]
            worker = SinkWorker("en", sink, outbox, clock=lambda: now[0])
            for name, items in readings.items():
                outbox.put(items, [name] * len(items))
            while outbox.depth:
                if worker.flush() == 0 and outbox.status().halted:
                    raise SystemExit(f"halted: {outbox.status().halted}")
                now[0] += sink.window.total_seconds() + 0.001
                sandbox.clock.advance(sink.window.total_seconds() + 0.001)
            sink.close()
            outbox.close()
            stored = sandbox.store.count()
            expected = sum(len(items) for items in readings.values())
            if stored != expected:
                raise SystemExit(f"sandbox stored {stored} of {expected} values")
            return sandbox.requests()
        finally:
            sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--senders", type=int, default=5)
    parser.add_argument("--meters", type=int, default=10, help="per sender")
    parser.add_argument("--days", type=int, default=90)
    args = parser.parse_args()
    readings = backlog(args.senders, args.meters, args.days)
    meters = {
        name: {f"s{s}m{m}": f"{7_000_000_000 + s * 1000 + m}" for m in range(args.meters)}
        for s, name in enumerate(readings)
    }
    meter_of = {stream: meter for sender in meters.values() for stream, meter in sender.items()}
    total = sum(len(items) for items in readings.values())
    started = time.perf_counter()
    log = drain(readings, meters)
    elapsed = time.perf_counter() - started
    if any(r.status != 200 for r in log):
        raise SystemExit(f"a request failed: {[r.status for r in log]}")
    sizes = [r.size for r in log]
    last_of_sender = {r.sender: i for i, r in enumerate(log)}
    full = [r.size for i, r in enumerate(log) if i not in last_of_sender.values()]
    per_sender = {s: sum(1 for r in log if r.sender == s) for s in last_of_sender}
    windows = max(per_sender.values())
    least = least_windows(readings, meter_of)
    base_share, base_windows = fixed_count_baseline(readings, meter_of)
    print(
        f"backlog: {total} readings, {args.senders} senders x {args.meters} meters x "
        f"{args.days} days; {len(log)} requests, drained in {elapsed:.1f}s"
    )
    print(f"largest request: {max(sizes)} bytes (bound {LIMIT})", end="")
    print(f"; mean of the full ones: {statistics.mean(full):.0f} bytes" if full else "")
    print(f"{'':34}{'greedy (this sink)':>20}{'fixed-count baseline':>22}")
    print(
        f"{'mean payload / 0.5 MB, all':34}{statistics.mean(sizes) / LIMIT:>20.4f}"
        f"{base_share:>22.4f}"
    )
    if full:
        print(f"{'mean payload / 0.5 MB, full ones':34}{statistics.mean(full) / LIMIT:>20.4f}")
    print(f"{'10-minute windows to drain':34}{windows:>20}{base_windows:>22}")
    print(f"{'least possible windows':34}{least:>20}{least:>22}")
    print(f"{'windows / least possible':34}{windows / least:>20.3f}{base_windows / least:>22.3f}")


if __name__ == "__main__":
    main()
