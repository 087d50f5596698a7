"""The keys of a ``plugin = "modbus"`` source, as the user writes them.

Every device key may also be written in the source table itself: there it is the default
for every device in ``devices``, or, with no ``devices``, it describes the one device
the source reads. Devices that share a connection (a TCP host and port, or a serial
port) share one bus: one thread, requests serialised with ``pause`` between them.
``resolve.py`` turns these keys into that model (``model.py``), once, when the config
loads.
"""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path
from typing import Literal

import attrs

from wattbridge_plugins.sources.modbus.model import BusPlan
from wattbridge_plugins.sources.modbus.registers import (
    ByteOrder,
    DataType,
    Kind,
)

Transport = Literal["tcp", "rtu", "rtu-over-tcp"]
TimestampStyle = Literal["scheduled", "measured"]

DEFAULT_PORT = 502
DEFAULT_TIMEOUT = timedelta(seconds=1)
DEFAULT_RETRIES = 1
DEFAULT_BACKOFF_MAX = timedelta(minutes=5)
DEFAULT_SERIAL_PAUSE = timedelta(milliseconds=20)


@attrs.frozen
class RegisterConfig:
    """One register of a register map (a profile's, or a device's own additions and
    overrides). Keys left out take the profile's default, then the built-in one."""

    stream: str
    """The stream name; in a device, a profile's stream name overrides that register."""
    kind: Kind | None = None
    """holding, input, coil or discrete (inferred from a prefixed ``register``)."""
    address: int | None = None
    """The 0-based protocol address, as sent on the wire."""
    register: int | None = None
    """The number as the manual prints it: 30001, 40001, 10001 (or 1-based with kind)."""
    type: DataType | None = None
    byte_order: ByteOrder | None = None
    scale: float | None = None
    offset: float | None = None
    unit: str | None = None
    rename: str | None = None
    """In a device's override of a profile register: the stream name to use instead."""


@attrs.frozen
class DeviceKeys:
    """The keys of a device (and the source-level defaults for them)."""

    transport: Transport | None = None
    """tcp (Modbus TCP), rtu (a serial line), rtu-over-tcp (RTU frames through a TCP
    gateway). Default: rtu when ``serial`` is given, else tcp."""
    host: str | None = None
    port: int | None = None
    """TCP port (default 502)."""
    serial: str | None = None
    """Serial device (/dev/ttyUSB0) or a pyserial URL."""
    baudrate: int | None = None
    parity: Literal["N", "E", "O"] | None = None
    stopbits: int | None = None
    bytesize: int | None = None
    pause: timedelta | None = None
    """Quiet time between two requests on the bus (default 0 on TCP, 20ms on RTU)."""
    unit: int | None = None
    """The Modbus unit id (device id, slave address) 0-247 (default 1)."""
    profile: str | None = None
    """A shipped profile's name, e.g. "eastron-sdm630"."""
    profile_file: Path | None = None
    """Or a profile file of your own (relative to the config)."""
    registers: list[RegisterConfig] = attrs.Factory(list)
    drop: list[str] = attrs.Factory(list)
    """Streams of the profile not to read (names or patterns like "thd_*")."""
    only: list[str] | None = None
    """Read only these streams of the profile (names or patterns)."""
    prefix: str | None = None
    """Put before every stream name (default: "NAME/" for listed devices, none otherwise)."""
    interval: timedelta | None = None
    """How often the device is read (default 10s), on the wall clock's grid: 15m reads
    at :00, :15, :30 and :45."""
    timestamp: TimestampStyle | None = None
    """scheduled (default): readings carry the grid instant the poll was due;
    measured: the moment of the read, to the millisecond."""
    timeout: timedelta | None = None
    """How long to wait for an answer (default 1s)."""
    retries: int | None = None
    """Requests repeated after a timeout before the device is marked down (default 1)."""
    backoff_max: timedelta | None = None
    """The longest wait between tries of a down device (default 5m)."""
    max_gap: int | None = None
    """Unused registers a read may span to join two (default: the profile's, else 0)."""
    max_count: int | None = None
    """The most registers one read asks for (default: the profile's, else 125)."""


@attrs.frozen
class DeviceConfig(DeviceKeys):
    """A table of ``devices``: a name and any device key."""

    name: str = attrs.field(kw_only=True)


@attrs.frozen
class ModbusConfig(DeviceKeys):
    """Keys of a ``plugin = "modbus"`` source table."""

    devices: list[DeviceConfig] = attrs.Factory(list)
    """The devices this source reads; without it, the source is one device."""
    name: str | None = None
    """The name of the one device (default "device"), used in logs and errors."""

    plans: list[BusPlan] = attrs.field(init=False, factory=list, eq=False, repr=False)
    """The buses and devices these keys resolve to (not a key: set when the config loads)."""

    def __attrs_post_init__(self) -> None:
        # Resolved now, once: `wattbridge check` reports register-map mistakes before
        # anything runs, and the source and commands use this result. Imported here
        # because resolving needs these classes.
        from wattbridge_plugins.sources.modbus.resolve import resolve

        object.__setattr__(self, "plans", resolve(self))

    @property
    def time_resolution(self) -> timedelta:
        """What every reading's timestamp is a whole multiple of, since the epoch: the
        devices' intervals' common divisor when stamped as scheduled, else 1 ms.
        ``wattbridge check`` compares it with what each route's sink can write."""
        step = 0
        for plan in self.plans:
            for device in plan.devices:
                if device.timestamp != "scheduled":
                    return timedelta(milliseconds=1)
                step = math.gcd(step, round(device.interval * 1_000_000))
        return timedelta(microseconds=step or 1_000)
