"""The resolved form of a modbus source: buses (links) and the devices on them, with
every register checked and every read planned. Built by ``resolve.py``."""

from __future__ import annotations

from typing import Any

import attrs

from wattbridge_plugins.sources.modbus.planner import Read
from wattbridge_plugins.sources.modbus.registers import describe, size_of


@attrs.frozen
class Register:
    """A register ready to read: where it is, how to decode it, what stream it feeds."""

    stream: str
    kind: str
    address: int
    type: str
    byte_order: str
    scale: float | None
    offset: float | None
    unit: str

    @property
    def size(self) -> int:
        """Registers (or bits) it takes."""
        return size_of(self.type)

    @property
    def label(self) -> str:
        """The register for messages: "input register 30001 (address 0)"."""
        return describe(self.kind, self.address)


@attrs.frozen
class Link:
    """How a bus is reached; devices with equal links share a bus."""

    transport: str
    host: str | None
    port: int
    serial: str | None
    baudrate: int
    parity: str
    stopbits: int
    bytesize: int
    pause: float

    @property
    def key(self) -> tuple[Any, ...]:
        """What makes two devices share a bus."""
        if self.serial is not None and self.transport == "rtu":
            return ("serial", self.serial)
        return (self.transport, self.host, self.port)

    @property
    def label(self) -> str:
        """The bus for messages."""
        if self.transport == "rtu":
            return f"serial {self.serial}"
        return f"{self.transport} {self.host}:{self.port}"


@attrs.frozen
class Device:
    """A device ready to poll."""

    name: str
    unit: int
    registers: tuple[Register, ...]
    reads: tuple[Read[Register], ...]
    interval: float
    timeout: float
    retries: int
    backoff_max: float
    link: Link
    timestamp: str = "scheduled"
    """scheduled: readings carry their poll's grid instant; measured: the read's moment."""

    @property
    def label(self) -> str:
        """The device for messages: "device house unit 1"."""
        return f"device {self.name} unit {self.unit}"


@attrs.frozen
class BusPlan:
    """The devices one bus thread polls."""

    link: Link
    devices: tuple[Device, ...]
