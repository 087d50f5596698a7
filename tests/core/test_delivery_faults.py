"""Delivery under faults of the clock and the disk, with a real outbox: a stamp or a
backoff from the future counts from now; an outbox that cannot record progress stops
the sending (once) and resumes; a deleted outbox stops its sink and is saved."""

from __future__ import annotations

import logging
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wattbridge import Batch, Reading, SendResult, SinkLimits
from wattbridge._delivery import SinkWorker
from wattbridge._deliverystate import DeliveryState, Retrying
from wattbridge._outbox import Outbox, OutboxGone
from wattbridge._sinks import SinkAdapter

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = 86_400.0


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class WindowSink:
    """Every batch ok; one request per credential per ten minutes."""

    limits = SinkLimits(max_batch=100, min_interval=timedelta(minutes=10))

    def __init__(self) -> None:
        self.sent: list[list[Reading]] = []

    def credential(self, reading: Reading) -> str:
        return "sender"

    def send(self, batch: Batch) -> SendResult:
        self.sent.append(list(batch.readings))
        return SendResult.all_ok(batch)


class OkSink:
    limits = SinkLimits(max_batch=10)

    def __init__(self) -> None:
        self.sent: list[list[Reading]] = []

    def send(self, batch: Batch) -> SendResult:
        self.sent.append(list(batch.readings))
        return SendResult.all_ok(batch)


def readings(n: int) -> list[Reading]:
    return [Reading("s", T0 + timedelta(seconds=i), i) for i in range(n)]


def test_a_rate_limit_stamp_from_the_future_counts_as_now(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "o.sqlite")
    sink = WindowSink()
    worker = SinkWorker("t", SinkAdapter(sink), box, clock=clock)
    DeliveryState(box).request_made("sender", clock.now + DAY)  # a clock a day ahead
    box.put(readings(3), ["sender"] * 3)
    with caplog.at_level(logging.WARNING):
        assert worker.flush() == 0  # counted as sent now: the window runs from now
    assert "ahead of the clock now" in caplog.text
    assert float(DeliveryState(box).last_request("sender") or 0) == clock.now
    clock.now += 600
    assert worker.flush() == 3  # one window later, not a day


def test_a_stamp_within_the_window_is_kept(tmp_path: Path) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "o.sqlite")
    worker = SinkWorker("t", SinkAdapter(WindowSink()), box, clock=clock)
    DeliveryState(box).request_made("sender", clock.now + 60)  # jitter, not a wrong clock
    box.put(readings(1), ["sender"])
    assert worker.next_due() == clock.now + 60 + 600


def test_a_backoff_decided_in_the_future_counts_from_now(tmp_path: Path) -> None:
    clock = Clock()
    box = Outbox(tmp_path / "o.sqlite")
    worker = SinkWorker("t", SinkAdapter(OkSink()), box, clock=clock)
    ahead = clock.now + DAY
    DeliveryState(box).failed("", Retrying(3, ahead + 40, ahead), "HTTP 500", ahead)
    box.put(readings(2))
    assert worker.next_due() == clock.now + 40
    clock.now += 40
    assert worker.flush() == 2


class FailingAcks:
    """An outbox whose writes fail as on a full disk until ``space`` is set."""

    def __init__(self, box: Outbox) -> None:
        self.box = box
        self.space = False
        self.ack = box.ack
        self.set_state = box.set_state

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def ack(*args: Any, **kwargs: Any) -> None:
            if not self.space:
                raise sqlite3.OperationalError("database or disk is full")
            self.ack(*args, **kwargs)

        def set_state(*args: Any, **kwargs: Any) -> None:
            if not self.space:
                raise sqlite3.OperationalError("database or disk is full")
            self.set_state(*args, **kwargs)

        monkeypatch.setattr(self.box, "ack", ack)
        monkeypatch.setattr(self.box, "set_state", set_state)


def test_an_outbox_that_cannot_record_acks_stops_sending_until_it_can(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The disk-full itself is tested on a real tmpfs (test_mqtt_disk_full.py); here the
    # failing write is injected to count sends exactly.
    box = Outbox(tmp_path / "o.sqlite")
    sink = OkSink()
    worker = SinkWorker("t", SinkAdapter(sink), box)
    box.put(readings(25))
    disk = FailingAcks(box)
    disk.install(monkeypatch)
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            assert worker.flush() == 0
    assert len(sink.sent) == 1  # one batch went out; none again while acks fail
    assert worker.stalled is not None and "disk is full" in worker.stalled
    assert caplog.text.count("cannot record progress") == 1
    disk.space = True
    assert worker.flush() == 25
    assert worker.stalled is None and box.depth == 0
    assert "sending resumes" in caplog.text


def test_a_deleted_outbox_stops_its_sink_refuses_puts_and_is_saved(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    sink = OkSink()
    worker = SinkWorker("t", SinkAdapter(sink), box)
    box.put(readings(5))
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    assert worker.flush() == 0 and sink.sent == []
    assert worker.lost_outbox is not None and "deleted" in worker.lost_outbox
    with pytest.raises(OutboxGone):
        box.put(readings(1))
    (saved,) = tmp_path.glob("o.sqlite.deleted-*")
    copy = Outbox(saved)
    assert [r.value for r in copy.iter_queued()] == [0, 1, 2, 3, 4]
    copy.close()
    box.close()


def test_a_replaced_outbox_is_noticed(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    other = tmp_path / "other.sqlite"
    Outbox(other).close()
    other.replace(path)
    assert "replaced" in (box.gone() or "")
    box.close()
