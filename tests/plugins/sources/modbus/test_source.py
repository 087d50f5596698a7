"""The modbus source against real pymodbus servers: every data type and order, coils,
bad values, exception responses, a device that goes silent and comes back, a slow bus
beside a punctual one, RTU on a serial line (socat), RTU over TCP, and a whole run."""

from __future__ import annotations

import itertools
import json
import logging
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge import next_tick
from wattbridge.testing import SourceHarness, wait_until
from wattbridge_plugins.sources.modbus.client import BusClient
from wattbridge_plugins.sources.modbus.config import DeviceConfig, ModbusConfig, RegisterConfig
from wattbridge_plugins.sources.modbus.poller import BusPoller, DeviceReader, DeviceState
from wattbridge_plugins.sources.modbus.registers import BYTE_ORDERS, REGISTER_TYPES
from wattbridge_plugins.sources.modbus.simulator import MeterServer, SimulatedMeter

Server = Callable[..., MeterServer]
Run = Callable[..., SourceHarness]

_FORMATS = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}
_SAMPLES: dict[str, list[int | float]] = {
    "int16": [-(2**15), -2, 2**15 - 1],
    "uint16": [0, 2**16 - 1],
    "int32": [-(2**31), -123456, 2**31 - 1],
    "uint32": [0, 2**32 - 1],
    "int64": [-(2**63), -5, 2**63 - 1],
    "uint64": [0, 2**63 - 1],  # above: skipped (test_random_registers...)
    "float32": [-1.5, 3.25e10, 0.0],
    "float64": [-2.5e-300, 1.7976931348623157e308, 0.1],
}


def held_words(value: float, data_type: str, order: str) -> list[int]:
    """How a device lays out ``value``: written here by letter positions, apart from the
    plugin's own encoder, so the two check each other."""
    raw = struct.pack(f">{_FORMATS[data_type]}", value)
    if len(raw) == 2:
        raw = raw if order in ("ABCD", "CDAB") else raw[::-1]
    else:
        words = [raw[i : i + 2] for i in range(0, len(raw), 2)]
        if order in ("CDAB", "DCBA"):
            words.reverse()
        if order in ("BADC", "DCBA"):
            words = [w[::-1] for w in words]
        raw = b"".join(words)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def test_every_type_and_order_round_trips_through_a_server(
    meter_server: Server, run_source: Run
) -> None:
    meter = SimulatedMeter(1)
    registers, expected = [], {}
    next_address = {"input": 0, "holding": 0}
    for data_type in REGISTER_TYPES:
        for order in BYTE_ORDERS:
            for index, value in enumerate(_SAMPLES[data_type]):
                stream = f"{data_type}_{order}_{index}"
                words = held_words(value, data_type, order)
                kind = "holding" if index % 2 else "input"
                address = next_address[kind]
                meter.set_words(kind, address, words)
                registers.append(
                    {
                        "stream": stream,
                        "kind": kind,
                        "address": address,
                        "type": data_type,
                        "byte_order": order,
                    }
                )
                expected[stream] = value
                next_address[kind] += len(words)
    meter.set_words("coil", 3, [1, 0, 1])
    meter.set_words("discrete", 2000, [1])
    for stream, kind, bit_address, value in [
        ("coil_3", "coil", 3, 1),
        ("coil_4", "coil", 4, 0),
        ("coil_5", "coil", 5, 1),
        ("discrete_2001", "discrete", 2000, 1),
    ]:
        registers.append({"stream": stream, "kind": kind, "address": bit_address})
        expected[stream] = value
    server = meter_server([meter])

    harness = run_source("modbus", host="127.0.0.1", port=server.port, registers=registers)
    harness.start()
    readings = {r.stream: r.value for r in harness.wait_for(len(expected))}
    harness.stop()

    for stream, value in expected.items():
        if stream.startswith("float32"):
            assert struct.pack(">f", readings[stream]) == struct.pack(">f", value), stream
        else:
            assert readings[stream] == value, stream
    # 88 values in a few reads: coalesced within each kind, at most 125 registers a read.
    assert len(expected) == 88
    assert meter.requests <= 6


def _reader(server: MeterServer, registers: list[dict[str, Any]], **keys: Any) -> Any:
    config = ModbusConfig(
        host="127.0.0.1",
        port=server.port,
        name="house",
        registers=[RegisterConfig(**r) for r in registers],
        **keys,
    )
    (plan,) = config.plans
    client = BusClient(plan.link)
    counters: Counter[str] = Counter()
    reader = DeviceReader(client, logging.getLogger("test.modbus"), counters)
    return reader, DeviceState(plan.devices[0]), client, counters


def test_nan_and_infinity_are_counted_logged_skips_naming_the_register(
    meter_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    meter = SimulatedMeter(1)
    meter.set_words("input", 0, held_words(230.0, "float32", "ABCD"))
    meter.set_words("input", 2, [0x7FC0, 0x0000])  # float32 NaN
    meter.set_words("input", 4, [0x7FF0, 0, 0, 0])  # float64 +inf
    meter.set_words("input", 8, [0x7F7F, 0xFFFF])  # the largest float32 ...
    meter.set_words("input", 10, [0xFFFF] * 4)  # uint64 all ones: "not available"
    server = meter_server([meter])
    reader, state, client, counters = _reader(
        server,
        [
            {"stream": "v", "register": 30001, "type": "float32"},
            {"stream": "nan", "register": 30003, "type": "float32"},
            {"stream": "inf", "register": 30005, "type": "float64"},
            # ... scaled past what a float holds: inf too.
            {"stream": "huge", "register": 30009, "type": "float32", "scale": 1e300},
            {"stream": "na", "register": 30011, "type": "uint64"},
        ],
    )
    with caplog.at_level(logging.WARNING, "test.modbus"):
        outcome = reader.poll(state, tries=1)
        reader.poll(state, tries=1)
    client.close()
    assert [(r.stream, r.value) for r in outcome.readings] == [("v", 230.0)]
    assert counters["skipped"] == 8
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "device house unit 1, input register 30003 (address 2) (nan) holds nan" in m
        for m in messages
    )
    assert any("input register 30005 (address 4) (inf) holds inf" in m for m in messages)
    assert any("(huge) holds 3.4028235e+38, which scaled is inf" in m for m in messages)
    assert any("(na) holds 18446744073709551615, beyond a 64-bit signed" in m for m in messages)
    assert len(messages) == 4, "each register's skip is logged once, then counted"


def test_random_register_contents_never_crash_the_source(meter_server: Server) -> None:
    registers = []
    address = 0
    for data_type in REGISTER_TYPES:
        for order in BYTE_ORDERS:
            registers.append(
                {
                    "stream": f"{data_type}_{order}",
                    "kind": "holding",
                    "address": address,
                    "type": data_type,
                    "byte_order": order,
                    "scale": 0.1,
                    "offset": -3.0,
                }
            )
            address += 4 if data_type.endswith("64") else 2 if "32" in data_type else 1
    meter = SimulatedMeter(1)
    meter.set_words("holding", 0, [0] * address)
    server = meter_server([meter])
    reader, state, client, _counters = _reader(server, registers)

    @settings(
        max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    @given(st.lists(st.integers(0, 0xFFFF), min_size=address, max_size=address))
    def poll_random(words: list[int]) -> None:
        meter.set_words("holding", 0, words)
        outcome = reader.poll(state, tries=1)
        assert outcome.answered
        got = {r.stream for r in outcome.readings} | {r.stream for r, _ in outcome.problems}
        assert got == {r["stream"] for r in registers}

    try:
        poll_random()
    finally:
        client.close()


def test_an_exception_response_names_the_device_and_register(
    meter_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    meter = SimulatedMeter(1)
    meter.set_words("input", 0, [1, 2, 3, 4])
    meter.refuse("input", 2)
    server = meter_server([meter])
    reader, state, client, counters = _reader(
        server,
        [{"stream": s, "register": 30001 + i, "type": "uint16"} for i, s in enumerate("abcd")],
    )
    with caplog.at_level(logging.WARNING, "test.modbus"):
        first = reader.poll(state, tries=1)
        second = reader.poll(state, tries=1)
    client.close()
    for outcome in (first, second):
        assert [(r.stream, r.value) for r in outcome.readings] == [("a", 1), ("b", 2), ("d", 4)]
        ((_register, message),) = outcome.problems
        assert message == (
            "device house unit 1, input register 30003 (address 2) (c): "
            "exception response 2 (illegal data address)"
        )
    logged = [r.getMessage() for r in caplog.records]
    assert (
        sum("refused the read of 4 registers from input register 30001" in m for m in logged) == 1
    )
    assert (
        sum("input register 30003 (address 2) (c): exception response 2" in m for m in logged) == 1
    )
    assert counters["refused"] == 2
    # After the first refusal the device is read register by register: 1 + 4, then 4.
    assert meter.requests == 9


def _streams_of(harness: SourceHarness, prefix: str) -> list[Any]:
    return [r for r in list(harness.emitted) if r.stream.startswith(prefix)]


def test_a_silent_device_is_marked_down_once_and_back_up_once_while_its_bus_goes_on(
    meter_server: Server, run_source: Run, caplog: pytest.LogCaptureFixture
) -> None:
    meters = [SimulatedMeter(1), SimulatedMeter(2)]
    for meter in meters:
        meter.set_words("input", 0, [meter.unit])
    server = meter_server(meters)
    harness = run_source(
        "modbus",
        host="127.0.0.1",
        port=server.port,
        interval="100ms",
        timeout="150ms",
        retries=1,
        backoff_max="300ms",
        registers=[{"stream": "unit", "register": 30001}],
        devices=[{"name": "one", "unit": 1}, {"name": "two", "unit": 2}],
    )
    with caplog.at_level(logging.INFO, "test.source"):
        harness.start()
        wait_until(lambda: _streams_of(harness, "two/"), message="a first reading of two")
        meters[1].muted = True
        muted_at = len(_streams_of(harness, "one/"))
        wait_until(lambda: "down" in caplog.text, message="two marked down")
        # The other device of the bus keeps its schedule while two is silent.
        wait_until(lambda: len(_streams_of(harness, "one/")) >= muted_at + 8, timeout=5)
        meters[1].muted = False
        wait_until(lambda: "back up" in caplog.text, message="two back up")
        count = len(_streams_of(harness, "two/"))
        wait_until(lambda: len(_streams_of(harness, "two/")) > count + 2)
        harness.stop()
    down = [r for r in caplog.records if "is down" in r.getMessage()]
    up = [r for r in caplog.records if "back up" in r.getMessage()]
    assert len(down) == 1 and len(up) == 1
    assert down[0].levelno == logging.WARNING
    assert "device two unit 2 on tcp 127.0.0.1" in down[0].getMessage()
    assert "no answer within 0.15s (ModbusIOException) (2 tries)" in down[0].getMessage()
    counters = harness.source.counters
    assert counters["no_answer"] >= 2  # tried again with backoff, not given up


def test_a_meter_that_goes_away_and_comes_back_on_its_port(
    meter_server: Server, run_source: Run, caplog: pytest.LogCaptureFixture
) -> None:
    meter = SimulatedMeter(1)
    meter.set_words("holding", 0, [42])
    server = meter_server([meter])
    harness = run_source(
        "modbus",
        host="127.0.0.1",
        port=server.port,
        interval="100ms",
        timeout="200ms",
        backoff_max="200ms",
        registers=[{"stream": "x", "register": 40001}],
    )
    with caplog.at_level(logging.INFO, "test.source"):
        harness.start()
        harness.wait_for(1)
        server.stop()  # connection refused from now on: reconnect with backoff
        wait_until(lambda: "is down: cannot connect" in caplog.text)
        server.start()
        wait_until(lambda: "back up" in caplog.text)
        count = len(harness.emitted)
        harness.wait_for(count + 2)
        harness.stop()
    assert caplog.text.count("is down") == 1


def test_a_slow_bus_never_delays_another_bus(meter_server: Server, run_source: Run) -> None:
    slow, dead, quick = SimulatedMeter(1), SimulatedMeter(2), SimulatedMeter(1)
    for meter in (slow, dead, quick):
        meter.set_words("input", 0, [1])
    slow.delay = 0.8
    dead.muted = True
    slow_bus = meter_server([slow, dead])
    quick_bus = meter_server([quick])
    harness = run_source(
        "modbus",
        interval="100ms",
        timeout="1s",
        retries=0,
        registers=[{"stream": "v", "register": 30001}],
        devices=[
            {"name": "slow", "host": "127.0.0.1", "port": slow_bus.port, "unit": 1},
            {"name": "dead", "host": "127.0.0.1", "port": slow_bus.port, "unit": 2},
            {"name": "quick", "host": "127.0.0.1", "port": quick_bus.port, "unit": 1},
        ],
    )
    harness.start()
    started = time.monotonic()
    wait_until(lambda: len(_streams_of(harness, "quick/")) >= 15, timeout=5)
    elapsed = time.monotonic() - started
    harness.stop()
    quick_times = [r.timestamp for r in _streams_of(harness, "quick/")]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(quick_times)]
    # The quick bus keeps its 100 ms schedule while the other bus spends 800 ms on each
    # answer of its slow meter and 1 s waiting on its dead one.
    assert max(gaps) < 0.5, gaps
    assert elapsed < 4
    assert len(_streams_of(harness, "slow/")) <= 4
    assert not _streams_of(harness, "dead/")


def test_rtu_on_a_serial_line_with_several_units(
    meter_server: Server, run_source: Run, pty_pair: tuple[str, str]
) -> None:
    client_end, server_end = pty_pair
    meters = [SimulatedMeter(unit) for unit in (1, 2, 3)]
    for meter in meters:
        meter.set_words("input", 0, held_words(230.0 + meter.unit, "float32", "ABCD"))
        meter.set_words("holding", 10, [meter.unit * 100])
    meter_server(meters, transport="rtu", serial=server_end, baudrate=38400)
    harness = run_source(
        "modbus",
        serial=client_end,
        baudrate=38400,
        pause="5ms",
        timeout="500ms",
        registers=[
            {"stream": "voltage_v", "register": 30001, "type": "float32"},
            {"stream": "setting", "register": 40011},
        ],
        devices=[{"name": f"m{unit}", "unit": unit} for unit in (1, 2, 3)],
    )
    harness.start()
    readings = {r.stream: r.value for r in harness.wait_for(6)}
    harness.stop()
    assert readings["m1/voltage_v"] == 231.0 and readings["m3/voltage_v"] == 233.0
    assert readings["m2/setting"] == 200
    assert len(harness.source.pollers) == 1, "three units on one line share one bus"


def test_rtu_over_tcp(meter_server: Server, run_source: Run) -> None:
    meter = SimulatedMeter(5)
    meter.set_words("input", 0, held_words(-42, "int32", "CDAB"))
    server = meter_server([meter], transport="rtu-over-tcp")
    harness = run_source(
        "modbus",
        transport="rtu-over-tcp",
        host="127.0.0.1",
        port=server.port,
        unit=5,
        registers=[{"stream": "p", "register": 30001, "type": "int32", "byte_order": "CDAB"}],
    )
    harness.start()
    (reading,) = harness.wait_for(1)[:1]
    harness.stop()
    assert reading.value == -42


def test_a_whole_run_to_a_jsonl_sink(
    meter_server: Server, wattbridge_runtime: Callable[..., Any], tmp_path: Path
) -> None:
    meter = SimulatedMeter(1)
    meter.set_words("input", 0x48, held_words(1234.5, "float32", "ABCD"))
    meter.set_words("input", 0x34, held_words(-300.0, "float32", "ABCD"))
    server = meter_server([meter])
    out = tmp_path / "out.jsonl"
    wattbridge_runtime(
        f"""
        [sources.house]
        plugin = "modbus"
        host = "127.0.0.1"
        port = {server.port}
        profile = "eastron-sdm630"
        only = ["import_kwh", "power_w"]
        interval = "200ms"

        [sinks.file]
        plugin = "jsonl"
        path = "{out}"
        flush_interval = "50ms"

        [[routes]]
        from = "house"
        to = "file"
        streams = {{"import_kwh" = "meter/import"}}
        """
    )
    wait_until(lambda: out.exists() and len(out.read_text().splitlines()) >= 2)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert {"stream": "meter/import", "value": 1234.5, "unit": "kWh"}.items() <= lines[0].items()


def test_a_full_outbox_skips_polls_and_counts_them(meter_server: Server) -> None:
    meter = SimulatedMeter(1)
    meter.set_words("input", 0, [5])
    server = meter_server([meter])
    (plan,) = ModbusConfig(
        host="127.0.0.1",
        port=server.port,
        interval=timedelta(milliseconds=20),
        registers=[RegisterConfig(stream="x", register=30001)],
    ).plans
    room = threading.Event()
    emitted: list[Any] = []
    stop = threading.Event()
    poller = BusPoller(plan, emitted.extend, logging.getLogger("test"), stop, room.is_set)
    thread = threading.Thread(target=poller.run, daemon=True)
    thread.start()
    wait_until(lambda: poller.counters["polls_skipped"] >= 5)
    assert meter.requests == 0 and not emitted  # nothing read while there is no room
    room.set()
    wait_until(lambda: len(emitted) >= 2)
    stop.set()
    thread.join(5)
    assert [r.value for r in emitted[:2]] == [5, 5]


def test_requests_on_one_bus_are_serialised_with_the_pause(
    meter_server: Server, run_source: Run
) -> None:
    meters = [SimulatedMeter(unit) for unit in (1, 2, 3)]
    for meter in meters:
        meter.set_words("input", 0, [meter.unit])
        meter.set_words("input", 10, [meter.unit])
    server = meter_server(meters)
    harness = run_source(
        "modbus",
        host="127.0.0.1",
        port=server.port,
        pause="80ms",
        interval="5s",
        # Two reads a device: the gap between 30001 and 30011 is not read over.
        registers=[{"stream": "a", "register": 30001}, {"stream": "b", "register": 30011}],
        devices=[{"name": f"m{meter.unit}", "unit": meter.unit} for meter in meters],
    )
    harness.start()
    harness.wait_for(6)
    harness.stop()
    # The first poll's six requests (a poll on the next 5s tick may have begun since).
    times = sorted(t for meter in meters for t in meter.request_times)[:6]
    assert len(times) == 6
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 0.075, gaps  # one at a time, 80 ms apart (less timer slack)


def test_a_meter_down_for_days_keeps_being_retried_at_backoff_max(
    meter_server: Server, run_source: Run
) -> None:
    # After thousands of failures in a row (a meter gone for days at a 5-minute
    # backoff_max) the delay formula must not overflow: the poller thread would die.
    meter = SimulatedMeter(1)
    meter.set_words("input", 0, [1])
    server = meter_server([meter])
    harness = run_source(
        "modbus",
        host="127.0.0.1",
        port=server.port,
        interval="50ms",
        timeout="100ms",
        retries=0,
        backoff_max="150ms",
        registers=[{"stream": "unit", "register": 30001}],
    )
    harness.start()
    wait_until(lambda: harness.source.counters["readings"] >= 1, message="a first reading")
    (poller,) = harness.source.pollers
    poller.states[0].failures = 5000
    meter.muted = True
    before = harness.source.counters["no_answer"]
    wait_until(lambda: harness.source.counters["no_answer"] >= before + 3, timeout=10)
    meter.muted = False
    readings = harness.source.counters["readings"]
    wait_until(lambda: harness.source.counters["readings"] > readings, message="back up")
    harness.stop()


REGISTER = RegisterConfig(stream="x", register=30001)


def test_polls_run_on_the_grid_and_carry_their_scheduled_instant(
    meter_server: Server, run_source: Run
) -> None:
    meter = SimulatedMeter(1)
    meter.set_words("input", 0, [7])
    server = meter_server([meter])
    harness = run_source(
        "modbus",
        host="127.0.0.1",
        port=server.port,
        interval="2s",
        registers=[{"stream": "x", "register": 30001}],
    )
    harness.start()
    readings = harness.wait_for(3, timeout=30)
    harness.stop()
    stamps = [r.timestamp for r in readings[:3]]
    # Whole multiples of 2 s since the epoch (what a sink writing whole seconds needs),
    # consecutive ticks apart unless a poll was skipped.
    assert all(stamp.timestamp() % 2 == 0 and stamp.microsecond == 0 for stamp in stamps)
    assert all((b - a) % timedelta(seconds=2) == timedelta(0) and b > a
               for a, b in itertools.pairwise(stamps))  # fmt: skip
    config = ModbusConfig(host="h", interval=timedelta(seconds=2), registers=[REGISTER])
    assert config.time_resolution == timedelta(seconds=2)


def test_measured_timestamps_are_the_moment_of_the_read(
    meter_server: Server, run_source: Run
) -> None:
    meter = SimulatedMeter(1)
    meter.set_words("input", 0, [7])
    meter.delay = 0.4  # every answer comes 0.4 s after its tick's request
    server = meter_server([meter])
    harness = run_source(
        "modbus",
        host="127.0.0.1",
        port=server.port,
        interval="2s",
        timestamp="measured",
        registers=[{"stream": "x", "register": 30001}],
    )
    harness.start()
    (reading, *_) = harness.wait_for(1, timeout=30)
    harness.stop()
    # Asked on a 2 s tick, stamped when the slow answer came, to the millisecond.
    assert reading.timestamp.microsecond % 1000 == 0
    assert reading.timestamp.timestamp() % 2 >= 0.4
    config = ModbusConfig(host="h", timestamp="measured", registers=[REGISTER])
    assert config.time_resolution == timedelta(milliseconds=1)


def test_the_time_resolution_of_devices_polled_at_several_intervals() -> None:
    config = ModbusConfig(
        host="127.0.0.1",
        registers=[REGISTER],
        devices=[
            DeviceConfig(name="a", interval=timedelta(minutes=15)),
            DeviceConfig(name="b", interval=timedelta(minutes=10)),
        ],
    )
    assert config.time_resolution == timedelta(minutes=5)


def test_a_poll_behind_its_schedule_skips_to_the_next_tick_and_counts_the_missed() -> None:
    (plan,) = ModbusConfig(
        host="127.0.0.1", interval=timedelta(seconds=10), registers=[REGISTER]
    ).plans
    poller = BusPoller(plan, lambda _r: None, logging.getLogger("test"), threading.Event())
    (state,) = poller.states
    now = datetime.now(UTC)
    state.due = next_tick(now, timedelta(seconds=10)) - timedelta(seconds=60)  # 6 ticks ago
    poller._next(state)
    assert state.due is not None and now < state.due <= now + timedelta(seconds=10)
    assert state.due.timestamp() % 10 == 0  # back on the grid, never off it
    assert poller.counters["late"] in (5, 6)  # the ticks that passed (one more if a tick
    # went by between now and the call)
