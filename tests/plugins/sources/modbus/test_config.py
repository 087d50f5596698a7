"""The source's config: profiles with per-device changes, and mistakes named precisely."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from wattbridge._cli import main
from wattbridge._config import Config, ConfigError
from wattbridge_plugins.sources.modbus import profiles
from wattbridge_plugins.sources.modbus.model import Device

SAMPLE = Path(__file__).parents[4] / "plugins/wattbridge_plugins/sources/modbus/sample.toml"

Load = Callable[[str], Config]


def devices(config: Config, source: str = "m") -> list[Device]:
    return [d for plan in config.sources[source].config.plans for d in plan.devices]


def test_the_sample_config_passes_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "-c", str(SAMPLE)]) == 0
    assert "2 source(s)" in capsys.readouterr().out


def test_a_profile_is_changed_per_device(wattbridge_config: Load) -> None:
    config = wattbridge_config(
        """
        [sources.m]
        plugin = "modbus"
        host = "127.0.0.1"
        profile = "eastron-sdm630"
        drop = ["thd_*", "*_demand*"]
        registers = [
          { stream = "import_kwh", rename = "energy/in", scale = 1000.0, unit = "Wh" },
          { stream = "power_w", register = 30055 },
          { stream = "serial_number", kind = "holding", address = 0xFC00, type = "uint32" },
        ]
        """
    )
    (device,) = devices(config)
    by_stream = {r.stream: r for r in device.registers}
    assert not any(s.startswith("thd_") or "_demand" in s for s in by_stream)
    assert "import_kwh" not in by_stream
    energy = by_stream["energy/in"]
    assert (energy.kind, energy.address, energy.scale, energy.unit) == ("input", 72, 1000.0, "Wh")
    assert by_stream["power_w"].address == 54 and by_stream["power_w"].type == "float32"
    serial = by_stream["serial_number"]
    assert (serial.kind, serial.address, serial.type, serial.byte_order) == (
        "holding",
        0xFC00,
        "uint32",
        "ABCD",
    )


def test_devices_on_one_line_share_a_bus_and_get_prefixes(wattbridge_config: Load) -> None:
    config = wattbridge_config(
        """
        [sources.m]
        plugin = "modbus"
        serial = "/dev/ttyUSB0"
        profile = "eastron-sdm120"
        devices = [
          { name = "a", unit = 1 },
          { name = "b", unit = 2, only = ["power_w"] },
          { name = "c", host = "10.0.0.9", prefix = "" },
        ]
        """
    )
    plans = config.sources["m"].config.plans
    assert [[d.name for d in p.devices] for p in plans] == [["a", "b"], ["c"]]
    assert plans[0].link.pause == 0.02 and plans[1].link.pause == 0.0
    assert [r.stream for r in plans[0].devices[1].registers] == ["b/power_w"]
    assert "voltage_v" in [r.stream for r in plans[1].devices[0].registers]


@pytest.mark.parametrize(
    ("registers", "expected"),
    [
        (
            '{ stream = "p", register = 30001, kind = "holding" }',
            "register 'p': register 30001 is input register 1",
        ),
        ('{ stream = "p", address = 5 }', "register 'p': address 5 needs kind"),
        ('{ stream = "p", kind = "input" }', "register 'p': give either address"),
        (
            '{ stream = "p", kind = "coil", address = 3, type = "int16" }',
            "register 'p' (coil 4 (address 3)): a coil holds one bit",
        ),
        (
            '{ stream = "p", kind = "input", address = 65535, type = "float32" }',
            "register 'p' (input register 65536 (address 65535)): address out of range",
        ),
        (
            '{ stream = "p", kind = "input", address = 1, type = "float16" }',
            "'float16' is not one of",
        ),
        (
            '{ stream = "p", kind = "input", address = 1, byte_order = "ADCB" }',
            "'ADCB' is not one of",
        ),
        (
            '{ stream = "p", register = 30001, scale = 0.0 }',
            "register 'p' (input register 30001 (address 0)): scale 0",
        ),
    ],
)
def test_register_map_mistakes_name_the_register(
    wattbridge_config: Load, registers: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        wattbridge_config(
            f"""
            [sources.m]
            plugin = "modbus"
            host = "127.0.0.1"
            name = "house"
            registers = [{registers}]
            """
        )
    message = str(raised.value)
    assert "[sources.m]" in message
    assert expected in message


def test_every_device_mistake_is_reported_at_once(wattbridge_config: Load) -> None:
    with pytest.raises(ConfigError) as raised:
        wattbridge_config(
            """
            [sources.m]
            plugin = "modbus"
            serial = "/dev/ttyUSB0"
            devices = [
              { name = "a", profile = "eastron-sdm360" },
              { name = "b", profile = "eastron-sdm120", drop = ["nothing_like_this"] },
              { name = "c", profile = "eastron-sdm120", unit = 3 },
              { name = "d", profile = "eastron-sdm120", unit = 300 },
              { name = "e", profile = "eastron-sdm120", unit = 5, baudrate = 19200 },
            ]
            """
        )
    message = str(raised.value)
    assert (
        "device a (unit 1): no profile 'eastron-sdm360'; did you mean 'eastron-sdm630'?" in message
    )
    assert "device b (unit 1): drop/only 'nothing_like_this' matches no stream" in message
    assert "device e shares serial /dev/ttyUSB0 with device c but not its settings" in message
    assert "device d (unit 300): unit must be 0-247 (0-255 on TCP)" in message


def test_two_devices_feeding_one_stream_is_a_mistake(wattbridge_config: Load) -> None:
    with pytest.raises(ConfigError, match="stream 'power_w' is read from both device a"):
        wattbridge_config(
            """
            [sources.m]
            plugin = "modbus"
            host = "127.0.0.1"
            profile = "eastron-sdm120"
            prefix = ""
            devices = [{ name = "a", unit = 1 }, { name = "b", unit = 2 }]
            """
        )


def test_a_profile_file_of_ones_own(wattbridge_config: Load, tmp_path: Path) -> None:
    (tmp_path / "my-meter.toml").write_text(
        'maker = "Acme"\nmodel = "M1"\nmanual = "Acme M1 manual v1"\nkind = "holding"\n'
        '[[registers]]\nstream = "power_w"\naddress = 0\ntype = "int32"\n'
    )
    config = wattbridge_config(
        '[sources.m]\nplugin = "modbus"\nhost = "h"\nprofile_file = "my-meter.toml"\n'
    )
    (device,) = devices(config)
    assert [(r.stream, r.kind, r.type) for r in device.registers] == [
        ("power_w", "holding", "int32")
    ]
    (tmp_path / "bad.toml").write_text(
        'maker = "Acme"\nmodel = "M1"\nmanual = "x"\n[[registers]]\nstream = "p"\nadress = 1\n'
    )
    with pytest.raises(ConfigError, match=r"profile bad register #1: unknown key\(s\) adress"):
        wattbridge_config('[sources.m]\nplugin = "modbus"\nhost = "h"\nprofile_file = "bad.toml"\n')


@pytest.mark.parametrize("name", sorted(profiles.shipped()))
def test_each_shipped_profile_loads_and_cites_its_manual(name: str) -> None:
    profile = profiles.load(profiles.shipped()[name])
    assert profile.maker and profile.model
    assert any(ch.isdigit() for ch in profile.manual), "cite the manual's version"
    text = profiles.shipped()[name].read_text()
    assert text.startswith("#") and "Checked against" in text


def test_every_register_mistake_of_a_device_is_reported(wattbridge_config: Load) -> None:
    with pytest.raises(ConfigError) as raised:
        wattbridge_config(
            """
            [sources.m]
            plugin = "modbus"
            host = "127.0.0.1"
            profile = "eastron-sdm630"
            registers = [
              { stream = "p", register = 30001, kind = "holding" },
              { stream = "power_w", scale = 0.0 },
            ]
            """
        )
    message = str(raised.value)
    assert "register 'power_w' (input register 30053 (address 52)): scale 0" in message
    assert "register 'p': register 30001 is input register 1 (prefix 3)" in message
