"""`outbox recover`'s salvage over damaged files: whatever bytes a damaged disk left, it
never raises, and what it salvages are valid readings in their order, no more than were
queued; an intact file comes back whole, with its dead letters and state.

(SQLite keeps no checksums: a flipped byte inside a value reads as another value, which
no salvage can tell. What it can refuse, a row that is no reading, it refuses.)"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge import Reading
from wattbridge._outbox import Outbox
from wattbridge._salvage import move_aside, salvage

T0 = datetime(2026, 1, 1, tzinfo=UTC)
COUNT = 3000
PAGE = 4096


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An outbox of COUNT readings (a dead letter among them, some state), closed: the
    first half put a few at a time (one row each), the rest in segments of 300."""
    path = tmp_path_factory.mktemp("original") / "o.sqlite"
    box = Outbox(path)
    everything = [Reading(f"s{i % 7}", T0 + timedelta(seconds=i), float(i)) for i in range(COUNT)]
    half = COUNT // 2
    for start in range(0, half, 10):
        box.put(everything[start : start + 10])
    for start in range(half, COUNT, 300):
        box.put(everything[start : start + 300])
    box.deadletter({1: "refused"})
    box.set_state("sink:progress", "batch 2")
    box.close()
    return path


def queued(path: Path) -> list[tuple[str, datetime, object]]:
    box = Outbox(path)
    try:
        return [(r.stream, r.timestamp, r.value) for r in box.iter_queued()]
    finally:
        box.close()


def test_an_intact_file_is_salvaged_whole(original: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "d.sqlite"
    shutil.copy(original, damaged)
    fresh = Outbox(tmp_path / "fresh.sqlite")
    result = salvage(damaged, fresh, fresh=True)
    assert (result.queued, result.dead_letters, result.unreadable) == (COUNT - 1, 1, [])
    assert fresh.get_state("sink:progress") == "batch 2"
    assert fresh.dead_letters()[0].reason == "refused"
    fresh.close()
    assert queued(tmp_path / "fresh.sqlite") == queued(original)


@settings(max_examples=60)
@given(
    damage=st.lists(
        st.tuples(
            st.integers(0, 200), st.integers(0, PAGE - 1), st.binary(min_size=1, max_size=64)
        ),
        min_size=1,
        max_size=6,
    )
)
def test_a_damaged_file_gives_a_subset_in_order_and_never_raises(
    original: Path, tmp_path_factory: pytest.TempPathFactory, damage: list[tuple[int, int, bytes]]
) -> None:
    folder = tmp_path_factory.mktemp("damaged")
    damaged = folder / "o.sqlite"
    shutil.copy(original, damaged)
    pages = damaged.stat().st_size // PAGE
    with damaged.open("r+b") as handle:
        for page, offset, garbage in damage:
            handle.seek((page % pages) * PAGE + offset)
            handle.write(garbage)
    fresh_path = folder / "fresh.sqlite"
    fresh = Outbox(fresh_path)
    try:
        salvage(damaged, fresh, fresh=True)
    finally:
        fresh.close()
    box = Outbox(fresh_path)
    try:
        got = list(box.iter_queued())  # rebuilt without checks: they must be valid
    finally:
        box.close()
    assert len(got) <= COUNT - 1
    for reading in got:
        Reading(reading.stream, reading.timestamp, reading.value, reading.unit, reading.source)
    assert damaged.exists()


def test_move_aside_keeps_the_file_and_its_log(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    for suffix in ("", "-wal"):
        Path(f"{path}{suffix}").write_bytes(b"x")
    target = move_aside(path)
    assert not path.exists()
    assert target.read_bytes() == b"x" and Path(f"{target}-wal").read_bytes() == b"x"
