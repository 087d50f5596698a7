"""The coalescing planner: fewest reads, within the Modbus limits, every register once."""

from __future__ import annotations

import attrs
from hypothesis import given
from hypothesis import strategies as st

from wattbridge_plugins.sources.modbus.planner import limit_of, one_per_value, plan


@attrs.frozen
class Reg:
    kind: str
    address: int
    size: int


registers = st.lists(
    st.builds(
        Reg,
        kind=st.sampled_from(["holding", "input", "coil", "discrete"]),
        address=st.integers(0, 3000),
        size=st.sampled_from([1, 2, 4]),
    ).map(lambda r: attrs.evolve(r, size=1) if r.kind in ("coil", "discrete") else r),
    max_size=80,
)


@given(registers, st.integers(0, 200), st.one_of(st.none(), st.integers(4, 125)))
def test_every_register_is_read_once_within_the_limits(
    regs: list[Reg], max_gap: int, max_count: int | None
) -> None:
    reads = plan(regs, max_gap=max_gap, max_count=max_count)
    carried = [r for read in reads for r in read.registers]
    assert sorted(carried, key=id) == sorted(regs, key=id)
    for read in reads:
        assert read.count <= limit_of(read.kind)
        if max_count is not None:
            assert read.count <= max(max_count, *(r.size for r in read.registers))
        for reg in read.registers:
            assert reg.kind == read.kind
            assert read.address <= reg.address
            assert reg.address + reg.size <= read.address + read.count


@given(registers)
def test_with_no_gap_allowed_a_read_spans_no_unused_register(regs: list[Reg]) -> None:
    for read in plan(regs, max_gap=0):
        used = set()
        for reg in read.registers:
            used.update(range(reg.address, reg.address + reg.size))
        assert used == set(range(read.address, read.address + read.count))


def test_neighbours_merge_and_the_gap_is_read_over_only_when_allowed() -> None:
    regs = [Reg("input", 0, 2), Reg("input", 2, 2), Reg("input", 10, 2)]
    assert [(r.address, r.count) for r in plan(regs)] == [(0, 4), (10, 2)]
    assert [(r.address, r.count) for r in plan(regs, max_gap=6)] == [(0, 12)]
    assert [(r.address, r.count) for r in plan(regs, max_gap=5)] == [(0, 4), (10, 2)]


def test_reads_stop_at_125_registers_and_2000_bits() -> None:
    words = [Reg("holding", a, 2) for a in range(0, 400, 2)]
    assert [r.count for r in plan(words)] == [124, 124, 124, 28]
    bits = [Reg("coil", a, 1) for a in range(4500)]
    assert [r.count for r in plan(bits)] == [2000, 2000, 500]


def test_one_per_value() -> None:
    regs = [Reg("input", 0, 2), Reg("input", 2, 2)]
    assert len(one_per_value(regs)) == 2
