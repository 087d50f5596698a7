"""How the keys of a modbus source resolve into buses and devices: profiles loaded,
source-level defaults applied, registers checked, reads planned."""

from __future__ import annotations

import fnmatch
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

from wattbridge_plugins.sources.modbus import profiles
from wattbridge_plugins.sources.modbus.config import (
    DEFAULT_BACKOFF_MAX,
    DEFAULT_PORT,
    DEFAULT_RETRIES,
    DEFAULT_SERIAL_PAUSE,
    DEFAULT_TIMEOUT,
    DeviceKeys,
    ModbusConfig,
    RegisterConfig,
)
from wattbridge_plugins.sources.modbus.model import BusPlan, Device, Link, Register
from wattbridge_plugins.sources.modbus.planner import plan
from wattbridge_plugins.sources.modbus.registers import (
    BIT_KINDS,
    BYTE_ORDERS,
    KINDS,
    REGISTER_TYPES,
    describe,
    size_of,
    split_register_number,
)


def resolve(config: ModbusConfig) -> list[BusPlan]:
    """Buses and devices of a source; ValueError with every mistake found."""
    problems: list[str] = []
    if config.devices:
        entries: list[tuple[DeviceKeys, str, str]] = [
            (d, d.name, _first(d.prefix, config.prefix, f"{d.name}/")) for d in config.devices
        ]
        seen: set[str] = set()
        for listed in config.devices:
            if listed.name in seen:
                problems.append(f"devices: two devices are named {listed.name!r}")
            seen.add(listed.name)
    else:
        entries = [(config, config.name or "device", config.prefix or "")]
    buses: dict[tuple[Any, ...], list[Device]] = {}
    links: dict[tuple[Any, ...], tuple[Link, str]] = {}
    streams: dict[str, str] = {}
    for keys, name, prefix in entries:
        try:
            device = _device(keys, config, name, prefix)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        for register in device.registers:
            other = streams.setdefault(register.stream, device.name)
            if other != device.name:
                problems.append(
                    f"stream {register.stream!r} is read from both device {other} and "
                    f"device {device.name}; give them a prefix"
                )
        key = device.link.key
        if key in links and links[key][0] != device.link:
            problems.append(
                f"device {device.name} shares {device.link.label} with device {links[key][1]} "
                "but not its settings (baudrate, parity, stopbits, bytesize, pause): "
                "one bus has one set"
            )
            continue
        links.setdefault(key, (device.link, device.name))
        buses.setdefault(key, []).append(device)
    if problems:
        raise ValueError("; ".join(problems))
    return [BusPlan(links[key][0], tuple(devices)) for key, devices in buses.items()]


def _first(*values: str | None) -> str:
    return next(v for v in values if v is not None)


def _pick(keys: DeviceKeys, config: ModbusConfig, name: str) -> Any:
    value = getattr(keys, name)
    if value is None or value == []:
        return getattr(config, name)
    return value


def _seconds(value: timedelta | None, default: timedelta) -> float:
    return (value if value is not None else default).total_seconds()


def _device(keys: DeviceKeys, config: ModbusConfig, name: str, prefix: str) -> Device:
    def pick(key: str) -> Any:
        return _pick(keys, config, key)

    unit = pick("unit")
    unit = 1 if unit is None else unit
    # "(unit 1)", not "unit 1": `wattbridge check` labels a problem with the first key
    # name its message holds between spaces, and the unit is rarely the key at fault.
    where = f"device {name} (unit {unit})"
    link = _link(keys, config, where)
    if not 0 <= unit <= (247 if link.transport == "rtu" else 255):
        # 248-255 are reserved on a serial line; TCP devices often answer to 255.
        raise ValueError(f"{where}: unit must be 0-247 (0-255 on TCP)")
    profile: profiles.Profile | None = None
    profile_name, profile_file = pick("profile"), pick("profile_file")
    try:
        if profile_name is not None and profile_file is not None:
            raise ValueError("give profile or profile_file, not both")
        if profile_name is not None:
            profile = profiles.load(profiles.find(profile_name))
        elif profile_file is not None:
            profile = profiles.load(Path(profile_file))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None
    registers = _registers(profile, pick("registers"), pick("drop"), pick("only"), where)
    if not registers:
        raise ValueError(f"{where}: no registers to read: give a profile or registers")
    registers = [attrs.evolve(r, stream=prefix + r.stream) for r in registers]
    seen: dict[str, Register] = {}
    for register in registers:
        if register.stream in seen:
            raise ValueError(f"{where}: two registers feed stream {register.stream!r}")
        seen[register.stream] = register
    max_gap = pick("max_gap")
    if max_gap is None:
        max_gap = profile.max_gap if profile and profile.max_gap is not None else 0
    max_count = pick("max_count") or (profile.max_count if profile else None)
    if max_gap < 0 or (max_count is not None and max_count < 1):
        raise ValueError(f"{where}: max_gap must be >= 0 and max_count >= 1")
    retries = pick("retries")
    retries = DEFAULT_RETRIES if retries is None else retries
    if retries < 0:
        raise ValueError(f"{where}: retries must be >= 0")
    interval = _seconds(pick("interval"), timedelta(seconds=10))
    timeout = _seconds(pick("timeout"), DEFAULT_TIMEOUT)
    if interval <= 0 or timeout <= 0:
        raise ValueError(f"{where}: interval and timeout must be more than 0")
    return Device(
        name=name,
        unit=unit,
        registers=tuple(registers),
        reads=tuple(plan(registers, max_gap=max_gap, max_count=max_count)),
        interval=interval,
        timeout=timeout,
        retries=retries,
        backoff_max=_seconds(pick("backoff_max"), DEFAULT_BACKOFF_MAX),
        link=link,
        timestamp=pick("timestamp") or "scheduled",
    )


def _link(keys: DeviceKeys, config: ModbusConfig, where: str) -> Link:
    def pick(key: str) -> Any:
        return _pick(keys, config, key)

    serial, host = pick("serial"), pick("host")
    if keys is not config and (keys.host or keys.serial):
        # A device that says where it is does not inherit the source's other connection.
        serial, host = keys.serial, keys.host
    transport = pick("transport") or ("rtu" if serial else "tcp")
    if transport == "rtu" and not serial:
        raise ValueError(f"{where}: transport rtu needs serial (the serial port)")
    if transport != "rtu" and not host:
        raise ValueError(f"{where}: give host (Modbus TCP) or serial (RTU)")
    pause = pick("pause")
    if pause is None:
        pause = timedelta() if transport == "tcp" else DEFAULT_SERIAL_PAUSE
    port = pick("port") or DEFAULT_PORT
    if not 0 < port < 65536:
        raise ValueError(f"{where}: port must be 1-65535")
    baudrate, stopbits, bytesize = (
        pick("baudrate") or 9600,
        pick("stopbits") or 1,
        pick("bytesize") or 8,
    )
    if baudrate <= 0 or stopbits not in (1, 2) or bytesize not in (7, 8):
        raise ValueError(f"{where}: baudrate must be > 0, stopbits 1 or 2, bytesize 7 or 8")
    return Link(
        transport=transport,
        host=host if transport != "rtu" else None,
        port=port,
        serial=serial if transport == "rtu" else None,
        baudrate=baudrate,
        parity=pick("parity") or "N",
        stopbits=stopbits,
        bytesize=bytesize,
        pause=pause.total_seconds(),
    )


_REGISTER_KEYS = {f.name for f in attrs.fields(RegisterConfig)}


def register_from_table(table: dict[str, Any], where: str) -> RegisterConfig:
    """A profile's register table as a :class:`RegisterConfig`, every key checked."""
    unknown = sorted(set(table) - _REGISTER_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}")
    if not isinstance(table.get("stream"), str):
        raise ValueError(f"{where}: stream must be given as a string")
    checks: dict[str, tuple[type, ...]] = {
        "address": (int,),
        "register": (int,),
        "scale": (int, float),
        "offset": (int, float),
        "unit": (str,),
        "rename": (str,),
    }
    for key, types in checks.items():
        value = table.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise ValueError(f"{where}: {key} {value!r} is not a {types[-1].__name__}")
    for key, allowed in (("kind", KINDS), ("type", REGISTER_TYPES), ("byte_order", BYTE_ORDERS)):
        if key in table and table[key] not in (*allowed, "bool"):
            raise ValueError(f"{where}: {key} {table[key]!r} is not one of {', '.join(allowed)}")
    values = dict(table)
    for key in ("scale", "offset"):
        if key in values:
            values[key] = float(values[key])
    return RegisterConfig(**values)


def _registers(
    profile: profiles.Profile | None,
    own: list[RegisterConfig],
    drop: list[str],
    only: list[str] | None,
    where: str,
) -> list[Register]:
    base: dict[str, RegisterConfig] = {}
    defaults: dict[str, Any] = {}
    if profile is not None:
        defaults = {"kind": profile.kind, "type": profile.type, "byte_order": profile.byte_order}
        for index, table in enumerate(profile.registers):
            register = register_from_table(
                table, f"{where}: profile {profile.name} register #{index + 1}"
            )
            if register.stream in base:
                raise ValueError(f"{where}: profile {profile.name} lists {register.stream!r} twice")
            base[register.stream] = register
    for pattern in [*drop, *(only or [])]:
        if not fnmatch.filter(base, pattern):
            raise ValueError(f"{where}: drop/only {pattern!r} matches no stream of the profile")
    if only is not None:
        base = {k: v for k, v in base.items() if any(fnmatch.fnmatch(k, p) for p in only)}
    base = {k: v for k, v in base.items() if not any(fnmatch.fnmatch(k, p) for p in drop)}
    merged = dict(base)
    for register in own:
        if register.stream in base:
            merged[register.stream] = _overlay(base[register.stream], register)
        elif register.stream in merged:
            raise ValueError(f"{where}: register {register.stream!r} is listed twice")
        else:
            if register.rename is not None:
                raise ValueError(
                    f"{where}: register {register.stream!r}: rename is for a profile's "
                    "register; this stream is not in the profile"
                )
            merged[register.stream] = register
    resolved, problems = [], []
    for register in merged.values():
        try:
            resolved.append(_resolve_register(register, defaults, where))
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise ValueError("; ".join(problems))
    return resolved


def _overlay(base: RegisterConfig, override: RegisterConfig) -> RegisterConfig:
    changes = {
        f.name: getattr(override, f.name)
        for f in attrs.fields(RegisterConfig)
        if f.name != "stream" and getattr(override, f.name) is not None
    }
    if "address" in changes or "register" in changes:
        # A new place replaces the old one in whichever form it was given.
        changes.setdefault("address", None)
        changes.setdefault("register", None)
    return attrs.evolve(base, **changes)


def _resolve_register(register: RegisterConfig, defaults: dict[str, Any], where: str) -> Register:
    stream = register.rename or register.stream
    here = f"{where}, register {register.stream!r}"
    kind = register.kind
    if (register.address is None) == (register.register is None):
        raise ValueError(
            f"{here}: give either address (0-based, as on the wire) or register "
            "(as the manual prints it, e.g. 30001)"
        )
    if register.register is not None:
        try:
            kind, address = split_register_number(register.register, kind or None)
        except ValueError as exc:
            raise ValueError(f"{here}: {exc}") from None
    else:
        assert register.address is not None
        address = register.address
        kind = kind or defaults.get("kind")
        if kind is None:
            raise ValueError(f"{here}: address {address} needs kind (holding, input, ...)")
    here = f"{where}, register {register.stream!r} ({describe(kind, address)})"
    if kind in BIT_KINDS:
        data_type = register.type or "bool"
        if data_type != "bool":
            raise ValueError(f"{here}: a {kind} holds one bit: type must be bool")
        if register.scale is not None or register.offset is not None:
            raise ValueError(f"{here}: a {kind} is 0 or 1; scale and offset do not apply")
    else:
        data_type = register.type or defaults.get("type") or "uint16"
        if data_type == "bool":
            raise ValueError(f"{here}: type bool is for coils and discrete inputs")
    if not 0 <= address <= 65535 or address + size_of(data_type) > 65536:
        raise ValueError(f"{here}: address out of range 0-65535 for a {data_type}")
    if register.scale == 0:
        raise ValueError(f"{here}: scale 0 would make every value 0")
    return Register(
        stream=stream,
        kind=kind,
        address=address,
        type=data_type,
        byte_order=register.byte_order or defaults.get("byte_order") or "ABCD",
        scale=register.scale,
        offset=register.offset,
        unit=register.unit or "",
    )
