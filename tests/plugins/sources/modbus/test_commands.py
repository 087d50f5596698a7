"""``wattbridge modbus read`` and ``wattbridge modbus profiles``."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

import pytest

from wattbridge._cli import main
from wattbridge.testing import free_port
from wattbridge_plugins.sources.modbus.simulator import MeterServer, SimulatedMeter


def f32(value: float) -> list[int]:
    raw = struct.pack(">f", value)
    return [int.from_bytes(raw[:2], "big"), int.from_bytes(raw[2:], "big")]


def test_read_prints_streams_values_and_units(
    meter_server: Callable[..., MeterServer], capsys: pytest.CaptureFixture[str]
) -> None:
    meter = SimulatedMeter(3)
    for address in range(0, 0x15A, 2):
        meter.set_words("input", address, f32(0.0))
    meter.set_words("input", 0x0000, f32(231.4))
    meter.set_words("input", 0x0048, f32(999.25))
    meter.refuse("input", 0x0156)  # this meter has no total_kwh
    server = meter_server([meter], fill_gaps=True)
    code = main(
        [
            "modbus",
            "read",
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--profile",
            "eastron-sdm120",
            "--unit",
            "3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 1  # one register refused
    lines = {line.split()[0]: line.split() for line in out.splitlines() if line.strip()}
    assert lines["voltage_v"][1:4] == ["231.4", "V", "input"]
    assert lines["import_kwh"][1:3] == ["999.25", "kWh"]
    assert "exception response 2 (illegal data address)" in " ".join(lines["total_kwh"])
    assert "21 of 22 values from device 127.0.0.1 unit 3" in out

    code = main(
        [
            "modbus",
            "read",
            "--host",
            "127.0.0.1",
            "--port",
            str(server.port),
            "--profile",
            "eastron-sdm120",
            "--unit",
            "3",
            "--json",
            "--max-gap",
            "200",
        ]
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {"stream": "voltage_v", "value": 231.4, "unit": "V"}.items() <= rows[0].items()


def test_read_a_device_that_is_not_there(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    code = main(
        [
            "modbus",
            "read",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--profile",
            "abb-b23",
            "--timeout",
            "200ms",
            "--retries",
            "0",
        ]
    )
    assert code == 1
    assert f"cannot connect to tcp 127.0.0.1:{port}" in capsys.readouterr().err


def test_read_with_a_profile_that_does_not_exist(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["modbus", "read", "--host", "h", "--profile", "eastron-sdm63"])
    assert code == 2
    assert "did you mean 'eastron-sdm630'" in capsys.readouterr().err


def test_profiles_lists_every_shipped_profile(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["modbus", "profiles", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {row["profile"] for row in rows} >= {
        "eastron-sdm630",
        "eastron-sdm120",
        "eastron-sdm72d",
        "carlogavazzi-em24-e1",
        "carlogavazzi-em24-rs485",
        "abb-b23",
    }
