"""The coalescing planner: which reads fetch a device's registers in the fewest requests.

Registers of one kind are sorted by address and merged into one read while the next one
starts at most ``max_gap`` registers (bits for coils and discrete inputs) after the end
of the read so far, and the read stays within the Modbus limit of 125 registers (2000
bits). ``max_gap = 0`` merges only neighbours; registers in a gap are read and ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Generic, Protocol, TypeVar

import attrs

from wattbridge_plugins.sources.modbus.registers import (
    BIT_KINDS,
    KINDS,
    MAX_BITS_PER_READ,
    MAX_REGISTERS_PER_READ,
)


class Placed(Protocol):
    """What the planner needs of a register: its kind, address and size."""

    @property
    def kind(self) -> str: ...

    @property
    def address(self) -> int: ...

    @property
    def size(self) -> int: ...


R = TypeVar("R", bound=Placed)


@attrs.frozen
class Read(Generic[R]):
    """One request: ``count`` registers (or bits) of ``kind`` from ``address``, and the
    registers whose values it carries."""

    kind: str
    address: int
    count: int
    registers: tuple[R, ...]


def limit_of(kind: str) -> int:
    """The most registers (or bits) one read of ``kind`` may ask for."""
    return MAX_BITS_PER_READ if kind in BIT_KINDS else MAX_REGISTERS_PER_READ


def plan(registers: Iterable[R], max_gap: int = 0, max_count: int | None = None) -> list[Read[R]]:
    """Group ``registers`` into reads; each register is in exactly one read.

    ``max_count`` lowers the per-read limit (some meters take fewer than 125 at once).
    Registers that overlap (two streams from one address) share a read.
    """
    by_kind: dict[str, list[R]] = {}
    for register in registers:
        by_kind.setdefault(register.kind, []).append(register)
    reads: list[Read[R]] = []
    for kind in KINDS:
        members = sorted(by_kind.get(kind, ()), key=lambda r: (r.address, r.size))
        limit = min(limit_of(kind), max_count or limit_of(kind))
        current: list[R] = []
        start = end = 0  # the read so far covers [start, end)
        for register in members:
            reg_end = register.address + register.size
            if current and register.address - end <= max_gap and max(end, reg_end) - start <= limit:
                current.append(register)
                end = max(end, reg_end)
                continue
            if current:
                reads.append(Read(kind, start, end - start, tuple(current)))
            current, start, end = [register], register.address, reg_end
        if current:
            reads.append(Read(kind, start, end - start, tuple(current)))
    return reads


def one_per_value(registers: Sequence[R]) -> list[Read[R]]:
    """One read per register: what a planner-less poller does (for the benchmark, and to
    find which register of a read a device refuses)."""
    return [Read(r.kind, r.address, r.size, (r,)) for r in registers]
