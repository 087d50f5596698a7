"""End to end, as a Danish user would set it up: a Modbus meter (the eastron-sdm630
profile on a real pymodbus server) polled every 2 s, resampled to whole minutes of
Copenhagen time, delivered by a real `wattbridge run` process to the energinet sandbox
over HTTP; the process is SIGKILLed in the middle of a window and started again.

Every closed window arrives, stamped with its whole minute, with the value computed
here (apart from wattbridge) from every reading the meter gave, which a second,
unresampled route writes to a JSON-lines file: the window cut by the kill included.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from wattbridge._programs import stop_process
from wattbridge.testing import wait_until
from wattbridge_plugins.sources.modbus.config import ModbusConfig
from wattbridge_plugins.sources.modbus.simulator import MeterServer, SimulatedMeter

METERS = {"import_kwh": "5700000001", "power_w": "5700000002"}
HOW = {"import_kwh": "last", "power_w": "mean"}
POWER = METERS["power_w"]


@pytest.fixture
def meter() -> Iterator[tuple[MeterServer, threading.Event]]:
    """An SDM630 whose import counter climbs and whose power wanders, served over
    Modbus TCP; the values change every 0.3 s, between and during polls."""
    (plan,) = ModbusConfig(host="127.0.0.1", profile="eastron-sdm630").plans
    registers = {r.stream: r for r in plan.devices[0].registers if r.stream in METERS}
    simulated = SimulatedMeter(1)
    kwh = 1000.0
    simulated.set_value(registers["import_kwh"], kwh)
    simulated.set_value(registers["power_w"], 0)
    server = MeterServer([simulated]).start()
    stop = threading.Event()
    chance = random.Random(13)

    def wander() -> None:
        nonlocal kwh
        while not stop.wait(0.3):
            kwh += 0.25  # exact in float32 at these sizes, as the meter holds it
            simulated.set_value(registers["import_kwh"], kwh)
            simulated.set_value(registers["power_w"], chance.randrange(0, 5000))

    thread = threading.Thread(target=wander, daemon=True)
    thread.start()
    yield server, stop
    stop.set()
    thread.join(5)
    server.close()


def _config(tmp_path: Path, port: int, sandbox: Any, token: str) -> Path:
    routes = "".join(
        f"""
[[routes]]
from = "house"
to = "energinet"
streams = {{ "{stream}" = "{stream}" }}
[routes.resample]
every = "1m"
how = "{how}"
zone = "Europe/Copenhagen"
"""
        for stream, how in HOW.items()
    )
    path = tmp_path / "wattbridge.toml"
    path.write_text(
        f"""
[wattbridge]
state_dir = "{tmp_path / "state"}"

[sources.house]
plugin = "modbus"
host = "127.0.0.1"
port = {port}
profile = "eastron-sdm630"
only = ["import_kwh", "power_w"]
interval = "2s"

[sinks.energinet]
plugin = "energinet"
url = "{sandbox.url}"
timezone = "Europe/Copenhagen"
request_interval = "1s"     # a loopback sandbox only; energinet.net allows one in 10m
request_margin = "100ms"
flush_interval = "200ms"
[sinks.energinet.senders.house]
token = "{token}"
meters = {{ "import_kwh" = "{METERS["import_kwh"]}", "power_w" = "{METERS["power_w"]}" }}

[sinks.raw]
plugin = "jsonl"
path = "{tmp_path / "raw.jsonl"}"
flush_interval = "100ms"
{routes}
[[routes]]
from = "house"
to = "raw"
"""
    )
    path.chmod(0o600)
    return path


def _start(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WATTBRIDGE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "wattbridge", "--log-level", "warning", "run", "-c", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _raw(path: Path) -> dict[str, dict[datetime, float]]:
    """Every reading the meter gave, by stream and timestamp (a line written again after
    the kill counts once)."""
    readings: dict[str, dict[datetime, float]] = defaultdict(dict)
    if path.exists():
        for line in path.read_text().splitlines():
            if line.endswith("}"):
                item = json.loads(line)
                readings[item["stream"]][datetime.fromisoformat(item["timestamp"])] = item["value"]
    return readings


def _windows(raw: dict[str, dict[datetime, float]]) -> dict[str, dict[str, float]]:
    """Each stream's closed windows (all but its last), keyed as the sandbox keys them:
    the whole minute's UTC time. Computed here, apart from wattbridge's resampler."""
    result: dict[str, dict[str, float]] = {}
    for stream, values in raw.items():
        minutes: dict[datetime, list[float]] = defaultdict(list)
        for stamp in sorted(values):
            minutes[stamp.replace(second=0)].append(values[stamp])
        closed = sorted(minutes)[:-1]
        fold = statistics.fmean if HOW[stream] == "mean" else (lambda v: v[-1])
        result[METERS[stream]] = {
            minute.strftime("%Y-%m-%dT%H:%M:%SZ"): fold(minutes[minute]) for minute in closed
        }
    return result


def _stored(sandbox: Any) -> dict[str, dict[str, float]]:
    return {meter: sandbox.values(meter).get(meter, {}) for meter in METERS.values()}


def _all_arrived(sandbox: Any, raw: Path, at_least: int) -> bool:
    expected = _windows(_raw(raw))
    stored = _stored(sandbox)
    return all(
        len(expected.get(m, {})) >= at_least and set(expected[m]) <= set(stored[m])
        for m in METERS.values()
    )


@pytest.mark.slow
def test_a_modbus_meter_resampled_to_minutes_reaches_energinet_across_a_sigkill(
    tmp_path: Path, meter: tuple[MeterServer, threading.Event], wattbridge_sandbox: Any
) -> None:
    server, _ = meter
    sandbox = wattbridge_sandbox("energinet")
    sandbox.window = 1.0
    sandbox.timezone = "Europe/Copenhagen"
    sandbox.add_meters(METERS.values())
    config = _config(tmp_path, server.port, sandbox, sandbox.add_sender("house"))
    raw = tmp_path / "raw.jsonl"

    process = _start(config)
    try:
        # The first window (begun mid-minute) closes at the next minute and arrives.
        wait_until(lambda: _all_arrived(sandbox, raw, 1), timeout=150, interval=0.5)
        # Kill it mid-window, just after a poll was queued (so no poll is half taken).
        polls = len(_raw(raw)["power_w"])
        wait_until(lambda: len(_raw(raw)["power_w"]) >= polls + 3, timeout=30, interval=0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        killed = datetime.now(UTC)
        process = _start(config)
        # The window the kill cut closes after the restart, and every window arrives.
        killed_minute = killed.replace(second=0, microsecond=0)
        cut = killed_minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        wait_until(
            lambda: (
                (_all_arrived(sandbox, raw, 2) and cut in _windows(_raw(raw))[POWER])
                or process.poll() is not None
            ),
            timeout=150,
            interval=0.5,
            message="every closed window, the one the kill cut too, in the sandbox",
        )
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
    finally:
        stop_process(process, grace=20)

    readings = _raw(raw)
    in_cut = [t for t in readings["power_w"] if t.replace(second=0) == killed_minute]
    assert min(in_cut) < killed < max(in_cut)  # the kill fell inside a window with readings
    expected = _windows(readings)
    stored = _stored(sandbox)
    for meter_id, windows in expected.items():
        # A window closed by the last poll before the stop may not have been sent yet.
        assert set(windows) - set(stored[meter_id]) <= {max(windows)}
        compared = {k: v for k, v in windows.items() if k in stored[meter_id]}
        assert cut in compared  # the window the kill cut is among those compared
        assert {k: stored[meter_id][k] for k in compared} == pytest.approx(compared)
        # One value a whole minute, nothing else: no raw 2 s reading reached the sandbox.
        assert all(k.endswith(":00Z") for k in stored[meter_id])
    assert all(request.status == 200 for request in sandbox.requests())
