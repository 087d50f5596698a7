"""Each shipped profile against a simulated meter holding a distinct value at every
address its manual documents. The maps below are transcribed a second time, from the
manuals and the open implementations each profile names, independently of the profile
files, and the words are encoded with struct; a profile that reads a register at
another address, with another type or weight, or misses one, fails here."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import pytest

from wattbridge_plugins.sources.modbus import profiles
from wattbridge_plugins.sources.modbus.config import ModbusConfig
from wattbridge_plugins.sources.modbus.simulator import MeterServer, SimulatedMeter

FORMATS = {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "int64": "q",
           "uint64": "Q", "float32": "f"}  # fmt: skip

# Eastron: every value a float32, high word first; the manual's 3xxxx register numbers.
SDM630 = """
voltage_l1_v 30001  voltage_l2_v 30003  voltage_l3_v 30005
current_l1_a 30007  current_l2_a 30009  current_l3_a 30011
power_l1_w 30013  power_l2_w 30015  power_l3_w 30017
apparent_power_l1_va 30019  apparent_power_l2_va 30021  apparent_power_l3_va 30023
reactive_power_l1_var 30025  reactive_power_l2_var 30027  reactive_power_l3_var 30029
power_factor_l1 30031  power_factor_l2 30033  power_factor_l3 30035
phase_angle_l1_deg 30037  phase_angle_l2_deg 30039  phase_angle_l3_deg 30041
voltage_ln_avg_v 30043  current_avg_a 30047  current_sum_a 30049
power_w 30053  apparent_power_va 30057  reactive_power_var 30061  power_factor 30063
phase_angle_deg 30067  frequency_hz 30071
import_kwh 30073  export_kwh 30075  import_kvarh 30077  export_kvarh 30079
apparent_energy_kvah 30081  charge_ah 30083  power_demand_w 30085  power_demand_max_w 30087
apparent_power_demand_va 30101  apparent_power_demand_max_va 30103
neutral_current_demand_a 30105  neutral_current_demand_max_a 30107
voltage_l1_l2_v 30201  voltage_l2_l3_v 30203  voltage_l3_l1_v 30205  voltage_ll_avg_v 30207
neutral_current_a 30225
thd_voltage_l1_pct 30235  thd_voltage_l2_pct 30237  thd_voltage_l3_pct 30239
thd_current_l1_pct 30241  thd_current_l2_pct 30243  thd_current_l3_pct 30245
thd_voltage_ln_avg_pct 30249  thd_current_avg_pct 30251
current_demand_l1_a 30259  current_demand_l2_a 30261  current_demand_l3_a 30263
current_demand_max_l1_a 30265  current_demand_max_l2_a 30267  current_demand_max_l3_a 30269
thd_voltage_l1_l2_pct 30335  thd_voltage_l2_l3_pct 30337  thd_voltage_l3_l1_pct 30339
thd_voltage_ll_avg_pct 30341  total_kwh 30343  total_kvarh 30345
import_l1_kwh 30347  import_l2_kwh 30349  import_l3_kwh 30351
export_l1_kwh 30353  export_l2_kwh 30355  export_l3_kwh 30357
total_l1_kwh 30359  total_l2_kwh 30361  total_l3_kwh 30363
"""
SDM120 = """
voltage_v 30001  current_a 30007  power_w 30013  apparent_power_va 30019
reactive_power_var 30025  power_factor 30031  phase_angle_deg 30037  frequency_hz 30071
import_kwh 30073  export_kwh 30075  import_kvarh 30077  export_kvarh 30079
power_demand_w 30085  power_demand_max_w 30087
import_power_demand_w 30089  import_power_demand_max_w 30091
export_power_demand_w 30093  export_power_demand_max_w 30095
current_demand_a 30259  current_demand_max_a 30265  total_kwh 30343  total_kvarh 30345
"""
SDM72D = """
voltage_l1_v 30001  voltage_l2_v 30003  voltage_l3_v 30005
current_l1_a 30007  current_l2_a 30009  current_l3_a 30011
power_l1_w 30013  power_l2_w 30015  power_l3_w 30017
apparent_power_l1_va 30019  apparent_power_l2_va 30021  apparent_power_l3_va 30023
reactive_power_l1_var 30025  reactive_power_l2_var 30027  reactive_power_l3_var 30029
power_factor_l1 30031  power_factor_l2 30033  power_factor_l3 30035
voltage_ln_avg_v 30043  current_avg_a 30047  current_sum_a 30049
power_w 30053  apparent_power_va 30057  reactive_power_var 30061  power_factor 30063
frequency_hz 30071  import_kwh 30073  export_kwh 30075
voltage_l1_l2_v 30201  voltage_l2_l3_v 30203  voltage_l3_l1_v 30205  voltage_ll_avg_v 30207
neutral_current_a 30225  total_kwh 30343  total_kvarh 30345
import_power_w 31281  export_power_w 31283
"""

# Carlo Gavazzi EM24: hex addresses as the manuals print them, INT32 low word first.
# Up to 002Ch the E1 (Ethernet) and RS-485 maps agree.
EM24_COMMON = """
voltage_l1_v 0000 int32 0.1  voltage_l2_v 0002 int32 0.1  voltage_l3_v 0004 int32 0.1
voltage_l1_l2_v 0006 int32 0.1  voltage_l2_l3_v 0008 int32 0.1  voltage_l3_l1_v 000A int32 0.1
current_l1_a 000C int32 0.001  current_l2_a 000E int32 0.001  current_l3_a 0010 int32 0.001
power_l1_w 0012 int32 0.1  power_l2_w 0014 int32 0.1  power_l3_w 0016 int32 0.1
apparent_power_l1_va 0018 int32 0.1  apparent_power_l2_va 001A int32 0.1
apparent_power_l3_va 001C int32 0.1
reactive_power_l1_var 001E int32 0.1  reactive_power_l2_var 0020 int32 0.1
reactive_power_l3_var 0022 int32 0.1
voltage_ln_sys_v 0024 int32 0.1  voltage_ll_sys_v 0026 int32 0.1  power_w 0028 int32 0.1
apparent_power_va 002A int32 0.1  reactive_power_var 002C int32 0.1
"""
EM24_E1 = (
    EM24_COMMON
    + """
power_factor_l1 002E int16 0.001  power_factor_l2 002F int16 0.001
power_factor_l3 0030 int16 0.001  power_factor 0031 int16 0.001
phase_sequence 0032 int16 1  frequency_hz 0033 int16 0.1
import_kwh 0034 int32 0.1  import_kvarh 0036 int32 0.1
import_l1_kwh 0040 int32 0.1  import_l2_kwh 0042 int32 0.1  import_l3_kwh 0044 int32 0.1
export_kwh 004E int32 0.1  export_kvarh 0050 int32 0.1
"""
)
EM24_RS485 = (
    EM24_COMMON
    + """
power_factor_l1 0032 int16 0.001  power_factor_l2 0033 int16 0.001
power_factor_l3 0034 int16 0.001  power_factor 0035 int16 0.001
phase_sequence 0036 int16 1  frequency_hz 0037 uint16 0.1  import_kwh 003E int32 0.1
import_l1_kwh 0046 int32 0.1  import_l2_kwh 0048 int32 0.1  import_l3_kwh 004A int32 0.1
export_kwh 005C int32 0.1
"""
)

# ABB B23: holding registers, hex addresses, big endian.
ABB_B23 = """
import_kwh 5000 uint64 0.01  export_kwh 5004 uint64 0.01  net_kwh 5008 int64 0.01
import_kvarh 500C uint64 0.01  export_kvarh 5010 uint64 0.01
import_l1_kwh 5460 uint64 0.01  import_l2_kwh 5464 uint64 0.01  import_l3_kwh 5468 uint64 0.01
export_l1_kwh 546C uint64 0.01  export_l2_kwh 5470 uint64 0.01  export_l3_kwh 5474 uint64 0.01
voltage_l1_v 5B00 uint32 0.1  voltage_l2_v 5B02 uint32 0.1  voltage_l3_v 5B04 uint32 0.1
voltage_l1_l2_v 5B06 uint32 0.1  voltage_l3_l2_v 5B08 uint32 0.1  voltage_l1_l3_v 5B0A uint32 0.1
current_l1_a 5B0C uint32 0.01  current_l2_a 5B0E uint32 0.01  current_l3_a 5B10 uint32 0.01
current_n_a 5B12 uint32 0.01
power_w 5B14 int32 0.01  power_l1_w 5B16 int32 0.01  power_l2_w 5B18 int32 0.01
power_l3_w 5B1A int32 0.01
reactive_power_var 5B1C int32 0.01  reactive_power_l1_var 5B1E int32 0.01
reactive_power_l2_var 5B20 int32 0.01  reactive_power_l3_var 5B22 int32 0.01
apparent_power_va 5B24 int32 0.01  apparent_power_l1_va 5B26 int32 0.01
apparent_power_l2_va 5B28 int32 0.01  apparent_power_l3_va 5B2A int32 0.01
frequency_hz 5B2C uint16 0.01
power_factor 5B3A int16 0.001  power_factor_l1 5B3B int16 0.001
power_factor_l2 5B3C int16 0.001  power_factor_l3 5B3D int16 0.001
"""


def eastron(table: str) -> list[tuple[str, int, str, float]]:
    """(stream, 0-based address, type, weight) of an Eastron table."""
    items = table.split()
    return [
        (s, int(r) - 30001, "float32", 1.0) for s, r in zip(items[::2], items[1::2], strict=True)
    ]


def hexmap(table: str) -> list[tuple[str, int, str, float]]:
    """(stream, address, type, weight) of a table of hex addresses."""
    items = table.split()
    return [
        (items[i], int(items[i + 1], 16), items[i + 2], float(items[i + 3]))
        for i in range(0, len(items), 4)
    ]


# profile: (register kind, low word first, the map)
MAPS: dict[str, tuple[str, bool, list[tuple[str, int, str, float]]]] = {
    "eastron-sdm630": ("input", False, eastron(SDM630)),
    "eastron-sdm120": ("input", False, eastron(SDM120)),
    "eastron-sdm72d": ("input", False, eastron(SDM72D)),
    "carlogavazzi-em24-e1": ("input", True, hexmap(EM24_E1)),
    "carlogavazzi-em24-rs485": ("input", True, hexmap(EM24_RS485)),
    "abb-b23": ("holding", False, hexmap(ABB_B23)),
}


def held(position: int, kind: str) -> int | float:
    """A value distinct for every position in a map, fitting ``kind``: negative at odd
    positions for signed types, beyond 32 bits for 64-bit ones."""
    raw = 1000 + 37 * position
    if kind == "float32":
        return raw + 0.5  # exact in a float32
    if kind.endswith("64"):
        raw += 2**40
    return -raw if position % 2 and not kind.startswith("u") else raw


def words(kind: str, value: int | float, low_word_first: bool) -> list[int]:
    """The 16-bit words the meter sends for ``value``."""
    raw = struct.pack(f">{FORMATS[kind]}", value)
    result = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    return result[::-1] if low_word_first else result


def test_every_shipped_profile_is_checked_here_and_names_its_references() -> None:
    assert set(MAPS) == set(profiles.shipped())
    for path in profiles.shipped().values():
        profile = profiles.load(path)
        assert profile.manual and profile.references, path.name


@pytest.mark.parametrize("name", sorted(MAPS))
def test_the_maps_here_have_a_register_per_stream_and_no_overlap(name: str) -> None:
    _kind, _low_first, table = MAPS[name]
    assert len({stream for stream, *_ in table}) == len(table)
    taken: set[int] = set()
    for _stream, address, kind, _weight in table:
        span = set(range(address, address + struct.calcsize(FORMATS[kind]) // 2))
        assert not taken & span, f"{name}: {_stream} overlaps"
        taken |= span


@pytest.mark.parametrize("name", sorted(MAPS))
def test_a_profile_reads_a_distinct_value_at_every_documented_address(
    name: str, meter_server: Callable[..., MeterServer], run_source: Callable[..., Any]
) -> None:
    kind, low_first, table = MAPS[name]
    meter = SimulatedMeter(7)
    expected = {}
    for position, (stream, address, value_kind, weight) in enumerate(table):
        value = held(position, value_kind)
        meter.set_words(kind, address, words(value_kind, value, low_first))
        expected[stream] = value * weight
    server = meter_server([meter])
    (plan,) = ModbusConfig(host="127.0.0.1", profile=name).plans
    (device,) = plan.devices

    harness = run_source(
        "modbus", host="127.0.0.1", port=server.port, unit=7, profile=name, interval="1s"
    )
    harness.start()
    readings = {r.stream: r.value for r in harness.wait_for(len(device.registers))}
    harness.stop()

    assert readings == pytest.approx(expected, rel=1e-12)
    # Polls run on the wall clock's grid, so a second may have begun: count per poll.
    polls = harness.source.counters["polls"]
    assert meter.requests == len(device.reads) * polls
    assert len(device.reads) < len(device.registers)


def test_an_em24_read_at_the_other_models_addresses_is_not_what_the_meter_holds(
    meter_server: Callable[..., MeterServer], run_source: Callable[..., Any]
) -> None:
    # Why two profiles: an RS-485 EM24 read with the Ethernet map gives other numbers.
    kind, low_first, table = MAPS["carlogavazzi-em24-rs485"]
    meter = SimulatedMeter(1)
    meter.set_words(kind, 0, [0] * 0x80)  # a real meter answers for the whole block
    expected = {}
    for position, (stream, address, value_kind, weight) in enumerate(table):
        value = held(position, value_kind)
        meter.set_words(kind, address, words(value_kind, value, low_first))
        expected[stream] = value * weight
    server = meter_server([meter])
    harness = run_source(
        "modbus", host="127.0.0.1", port=server.port, profile="carlogavazzi-em24-e1",
        interval="1s",
    )  # fmt: skip
    harness.start()
    readings = {r.stream: r.value for r in harness.wait_for(36)}  # the E1 map's
    harness.stop()
    differing = {s for s in ("frequency_hz", "import_kwh", "export_kwh", "power_factor")
                 if readings.get(s) != pytest.approx(expected[s])}  # fmt: skip
    assert differing == {"frequency_hz", "import_kwh", "export_kwh", "power_factor"}


def test_the_old_em24_name_fails_naming_both_maps() -> None:
    with pytest.raises(ValueError) as caught:
        ModbusConfig(host="127.0.0.1", profile="carlogavazzi-em24").plans  # noqa: B018
    message = str(caught.value)
    assert "carlogavazzi-em24-e1" in message and "carlogavazzi-em24-rs485" in message
