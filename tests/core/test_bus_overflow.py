"""A source that cannot pause goes on past a full outbox's max_queue, counted, up to
the outbox's bound in bytes and the free space it must leave; a pausable one waits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from wattbridge import Reading, Stopping
from wattbridge._bus import Bus
from wattbridge._config import Route
from wattbridge._outbox import Outbox

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def readings(first: int, n: int) -> list[Reading]:
    return [Reading("a", T0 + timedelta(seconds=i), i) for i in range(first, first + n)]


def test_overflow_takes_readings_past_max_queue_and_counts_them(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_queue=10, min_free_bytes=0)
    bus = Bus([Route(("s",), ("o",))], {"o": box})
    for first in range(0, 50, 5):
        bus.emit("s", readings(first, 5), overflow=True)
    assert box.depth == 50
    assert bus.stats.counters["sink.o.over_max_queue"] == 40
    box.close()


@pytest.mark.parametrize(
    "bound",
    [{"max_queue_bytes": 1}, {"min_free_bytes": 10**18}],
    ids=["file over max_queue_bytes", "disk below min_free_bytes"],
)
def test_overflow_stops_at_its_bounds_and_waits_as_a_pausable_source(
    tmp_path: Path, bound: dict[str, int]
) -> None:
    box = Outbox(tmp_path / "o.sqlite", max_queue=5, **bound)
    stopping = threading.Event()
    bus = Bus([Route(("s",), ("o",))], {"o": box}, stopping=stopping)
    bus.emit("s", readings(0, 5), overflow=True)  # up to max_queue: no bound needed
    outcome: list[BaseException] = []

    def emit() -> None:
        try:
            bus.emit("s", readings(5, 1), overflow=True)
        except Stopping as exc:
            outcome.append(exc)

    thread = threading.Thread(target=emit)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # waiting, as a pausable source would
    stopping.set()
    thread.join(5)
    assert outcome and box.depth == 5
    assert "sink.o.over_max_queue" not in bus.stats.counters
    box.close()
