"""Benchmark: the modbus source's requests per poll and polls per second.

    python bench/modbus_polling.py [--meters 50] [--seconds 10]

1. Requests per poll for the eastron-sdm630 profile (76 values): the coalescing planner
   against one request per value (what a poller without a planner sends), counted at a
   simulated SDM630 on a real pymodbus server, with the time each poll takes.
2. Polls per second for ``--meters`` simulated SDM630 meters read by one ModbusSource
   in this process (a bus, so a thread, per meter; every meter polled as fast as it
   answers). The meters are served by a child process, so that the server's work does
   not share this process's interpreter lock; readings go to a counting emit.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import attrs

from wattbridge import SourceContext
from wattbridge_plugins.sources.modbus.client import BusClient
from wattbridge_plugins.sources.modbus.config import DeviceConfig, ModbusConfig
from wattbridge_plugins.sources.modbus.planner import one_per_value
from wattbridge_plugins.sources.modbus.poller import DeviceReader, DeviceState
from wattbridge_plugins.sources.modbus.simulator import MeterServer, SimulatedMeter
from wattbridge_plugins.sources.modbus.source import ModbusSource

PROFILE = "eastron-sdm630"


def sdm630(unit: int = 1) -> SimulatedMeter:
    """A simulated SDM630 holding a value in every register of the profile."""
    (plan,) = ModbusConfig(host="x", profile=PROFILE).plans
    meter = SimulatedMeter(unit)
    for index, register in enumerate(plan.devices[0].registers):
        meter.set_value(register, 100.0 + index)
    return meter


def serve(count: int) -> None:
    """Child process: serve ``count`` meters on free ports; print the ports; wait."""
    servers = [MeterServer([sdm630()]).start() for _ in range(count)]
    print(" ".join(str(s.port) for s in servers), flush=True)
    sys.stdin.read()
    for server in servers:
        server.close()


def requests_per_poll(polls: int = 20) -> None:
    server = MeterServer([sdm630()]).start()
    try:
        (plan,) = ModbusConfig(host="127.0.0.1", port=server.port, profile=PROFILE).plans
        device = plan.devices[0]
        rows = []
        for label, reads in (
            ("coalesced", device.reads),
            ("one per value", tuple(one_per_value(device.registers))),
        ):
            client = BusClient(plan.link)
            reader = DeviceReader(client, logging.getLogger("bench"), Counter())
            state = DeviceState(attrs.evolve(device, reads=reads))
            meter = server[1]
            before = meter.requests
            started = time.perf_counter()
            for _ in range(polls):
                outcome = reader.poll(state, tries=1)
                assert len(outcome.readings) == len(device.registers)
            elapsed = (time.perf_counter() - started) / polls
            client.close()
            rows.append((label, (meter.requests - before) / polls, elapsed * 1000))
        print(f"{PROFILE}: {len(device.registers)} values a poll")
        print(f"  {'':15} {'requests/poll':>14} {'ms/poll':>9}")
        for label, requests, ms in rows:
            print(f"  {label:15} {requests:14.0f} {ms:9.2f}")
        print(
            f"  ratio (one per value / coalesced): {rows[1][1] / rows[0][1]:.1f}x requests, "
            f"{rows[1][2] / rows[0][2]:.1f}x time"
        )
        spans = []
        for gap in (4, 16, 64):
            (wide,) = ModbusConfig(host="x", profile=PROFILE, max_gap=gap).plans
            spans.append(f"max_gap {gap}: {len(wide.devices[0].reads)}")
        print(f"  requests/poll if the meter allowed reading over gaps: {', '.join(spans)}")
    finally:
        server.close()


def polls_per_second(meters: int, seconds: float) -> None:
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(meters)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        ports = [int(p) for p in child.stdout.readline().split()]
        config = ModbusConfig(
            profile=PROFILE,
            interval=timedelta(milliseconds=1),  # as fast as each meter answers
            devices=[
                DeviceConfig(name=f"m{i}", host="127.0.0.1", port=port)
                for i, port in enumerate(ports)
            ],
        )
        with tempfile.TemporaryDirectory() as state_dir:
            context = SourceContext("bench", Path(state_dir), logging.getLogger("bench"))
            source = ModbusSource(config, context)
            readings = Counter[str]()
            lock = threading.Lock()

            def emit(batch: object) -> None:
                with lock:
                    readings["n"] += len(list(batch))  # type: ignore[call-overload]

            thread = threading.Thread(target=source.start, args=(emit,), daemon=True)
            thread.start()
            time.sleep(1.0)  # connect and warm up
            polls_before, readings_before = source.counters["polls"], readings["n"]
            started = time.perf_counter()
            time.sleep(seconds)
            elapsed = time.perf_counter() - started
            polls = source.counters["polls"] - polls_before
            count = readings["n"] - readings_before
            source.stop()
            thread.join(10)
            source.close()
        print(
            f"{meters} simulated {PROFILE} meters, one process ({os.cpu_count()} CPUs): "
            f"{polls / elapsed:.0f} polls/s ({polls / elapsed / meters:.1f} per meter), "
            f"{count / elapsed:.0f} readings/s"
        )
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    requests_per_poll()
    polls_per_second(args.meters, args.seconds)


if __name__ == "__main__":
    main()
