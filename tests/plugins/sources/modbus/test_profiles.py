"""Each shipped profile against a simulated meter that holds values where the maker's
manual puts them. The addresses, types and weights below are transcribed from the
manuals a second time, independently of the profile files, and encoded with struct."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from wattbridge_plugins.sources.modbus import profiles
from wattbridge_plugins.sources.modbus.config import ModbusConfig
from wattbridge_plugins.sources.modbus.simulator import MeterServer, SimulatedMeter


def words(fmt: str, value: float, low_word_first: bool = False) -> list[int]:
    raw = struct.pack(f">{fmt}", value)
    result = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return result[::-1] if low_word_first else result


# stream: (kind, address as the manual prints it in hex, words held, value expected)
EXPECTED: dict[str, dict[str, tuple[str, int, list[int], float]]] = {
    "eastron-sdm630": {
        "voltage_l1_v": ("input", 0x0000, words("f", 230.1), 230.1),
        "current_l2_a": ("input", 0x0008, words("f", 5.25), 5.25),
        "power_w": ("input", 0x0034, words("f", 3456.5), 3456.5),
        "frequency_hz": ("input", 0x0046, words("f", 50.02), 50.02),
        "import_kwh": ("input", 0x0048, words("f", 12345.6), 12345.6),
        "export_kwh": ("input", 0x004A, words("f", 78.9), 78.9),
        "voltage_l1_l2_v": ("input", 0x00C8, words("f", 400.2), 400.2),
        "neutral_current_a": ("input", 0x00E0, words("f", 0.5), 0.5),
        "total_kwh": ("input", 0x0156, words("f", 12424.5), 12424.5),
    },
    "eastron-sdm120": {
        "voltage_v": ("input", 0x0000, words("f", 231.4), 231.4),
        "current_a": ("input", 0x0006, words("f", 1.75), 1.75),
        "power_w": ("input", 0x000C, words("f", -404.5), -404.5),
        "frequency_hz": ("input", 0x0046, words("f", 49.98), 49.98),
        "import_kwh": ("input", 0x0048, words("f", 999.25), 999.25),
        "export_kwh": ("input", 0x004A, words("f", 12.5), 12.5),
        "total_kwh": ("input", 0x0156, words("f", 1011.75), 1011.75),
    },
    "eastron-sdm72d": {
        "voltage_l3_v": ("input", 0x0004, words("f", 229.9), 229.9),
        "power_w": ("input", 0x0034, words("f", 7000.0), 7000.0),
        "import_kwh": ("input", 0x0048, words("f", 5432.1), 5432.1),
        "export_kwh": ("input", 0x004A, words("f", 10.0), 10.0),
        "total_kwh": ("input", 0x0156, words("f", 5442.1), 5442.1),
        "import_power_w": ("input", 0x0500, words("f", 7000.0), 7000.0),
        "export_power_w": ("input", 0x0502, words("f", 0.0), 0.0),
    },
    "carlogavazzi-em24": {
        "voltage_l1_v": ("input", 0x0000, words("i", 2301, True), 230.1),
        "current_l1_a": ("input", 0x000C, words("i", 5250, True), 5.25),
        "power_w": ("input", 0x0028, words("i", -12345, True), -1234.5),
        "power_factor": ("input", 0x0031, words("h", 987), 0.987),
        "frequency_hz": ("input", 0x0033, words("h", 500), 50.0),
        "import_kwh": ("input", 0x0034, words("i", 123456, True), 12345.6),
        "import_l2_kwh": ("input", 0x0042, words("i", 4000, True), 400.0),
        "export_kwh": ("input", 0x004E, words("i", 789, True), 78.9),
    },
    "abb-b23": {
        "import_kwh": ("holding", 0x5000, words("Q", 1234567), 12345.67),
        "export_kwh": ("holding", 0x5004, words("Q", 890), 8.9),
        "import_l1_kwh": ("holding", 0x5460, words("Q", 100), 1.0),
        "voltage_l1_v": ("holding", 0x5B00, words("I", 2301), 230.1),
        "current_l1_a": ("holding", 0x5B0C, words("I", 525), 5.25),
        "power_w": ("holding", 0x5B14, words("i", -123456), -1234.56),
        "frequency_hz": ("holding", 0x5B2C, words("H", 5002), 50.02),
        "power_factor": ("holding", 0x5B3A, words("h", -987), -0.987),
    },
}


def test_every_shipped_profile_is_checked_here() -> None:
    assert set(EXPECTED) == set(profiles.shipped())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_profile_reads_what_the_meter_holds_at_the_makers_addresses(
    name: str, meter_server: Callable[..., MeterServer], run_source: Callable[..., Any]
) -> None:
    (plan,) = ModbusConfig(host="127.0.0.1", profile=name).plans
    (device,) = plan.devices
    meter = SimulatedMeter(7)
    for register in device.registers:  # everything else in the map holds zero
        meter.set_value(register, 0)
    for kind, address, held, _value in EXPECTED[name].values():
        meter.set_words(kind, address, held)
    server = meter_server([meter])

    harness = run_source(
        "modbus", host="127.0.0.1", port=server.port, unit=7, profile=name, interval="1h"
    )
    harness.start()
    readings = {r.stream: r for r in harness.wait_for(len(device.registers))}
    harness.stop()

    assert len(readings) == len(device.registers)
    for stream, (_kind, _address, _held, value) in EXPECTED[name].items():
        assert readings[stream].value == pytest.approx(value, rel=1e-12), stream
    assert meter.requests == len(device.reads) < len(device.registers)
