"""The core's side of ``wattbridge_shared_rate_limits``: two workers (two uplinks, each
with its own outbox) share one credential's window through a store; unknown means wait.

The store here is a dict behind a lock that keeps the protocol's contract (claim is an
atomic compare-and-set); the NATS KV one is tested against a real cluster in
tests/plugins/sources/nats/.
"""

import threading
from datetime import UTC, datetime, timedelta

import attrs

from wattbridge import Batch, Reading, SendResult, SinkLimits
from wattbridge._delivery import SinkWorker
from wattbridge._outbox import Outbox
from wattbridge._sinks import SinkAdapter

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class MemoryLimits:
    """SharedRateLimits in memory; ``broken`` makes every call raise."""

    def __init__(self) -> None:
        self.stamps: dict[str, float] = {}
        self.previous: dict[str, float | None] = {}
        self.lock = threading.Lock()
        self.broken = False
        self.released: list[str] = []

    def last_request(self, credential: str) -> float | None:
        if self.broken:
            raise ConnectionError("bus away")
        return self.stamps.get(credential)

    def claim(self, credential: str, at: float, interval: float) -> bool:
        if self.broken:
            raise ConnectionError("bus away")
        with self.lock:
            last = self.stamps.get(credential)
            if last is not None and at - last < interval:
                return False
            self.previous[credential] = last
            self.stamps[credential] = at
            return True

    def release(self, credential: str) -> None:
        self.released.append(credential)
        previous = self.previous.pop(credential, None)
        if previous is None:
            self.stamps.pop(credential, None)
        else:
            self.stamps[credential] = previous


@attrs.define
class SenderSink:
    """A rate-limited sink (a credential per stream) that records its batches."""

    answer: object = None
    limits: SinkLimits = SinkLimits(max_batch=100, min_interval=timedelta(seconds=WINDOW))
    batches: list = attrs.Factory(list)

    def credential(self, reading: Reading) -> str:
        return reading.stream

    def send(self, batch: Batch) -> SendResult:
        self.batches.append(list(batch.readings))
        if callable(self.answer):
            return self.answer(batch)
        return SendResult.all_ok(batch)


def uplink(tmp_path, name, store, clock, sink=None):
    sink = sink or SenderSink()
    outbox = Outbox(tmp_path / f"{name}.sqlite")
    worker = SinkWorker(name, SinkAdapter(sink), outbox, clock=clock)
    worker.shared = store
    return worker, outbox, sink


def readings(n, stream="alice"):
    return [Reading(stream, T0 + timedelta(minutes=15 * i), i) for i in range(n)]


def test_two_uplinks_keep_one_window_per_credential(tmp_path):
    clock, store = Clock(), MemoryLimits()
    a, box_a, _ = uplink(tmp_path, "a", store, clock)
    b, box_b, sink_b = uplink(tmp_path, "b", store, clock)
    box_a.put(readings(2), ["alice"] * 2)
    box_b.put(readings(3), ["alice"] * 3)
    assert a.flush() == 2
    assert b.flush() == 0 and sink_b.batches == []  # a sent with alice: b waits
    assert b.next_due() == clock.now + WINDOW
    clock.now += WINDOW - 1
    assert b.flush() == 0
    clock.now += 1
    assert b.flush() == 3
    assert a.flush() == 0 and box_b.depth == 0


def test_a_claim_lost_to_another_uplink_sends_nothing(tmp_path):
    clock, store = Clock(), MemoryLimits()
    b, box_b, sink_b = uplink(tmp_path, "b", store, clock)
    box_b.put(readings(1), ["alice"])
    # Another uplink claims alice between b's look at the stamp and b's own claim.
    real_last = store.last_request
    store.last_request = lambda c: None  # b sees it free...
    assert store.claim("alice", clock.now, WINDOW)  # ...but the other one got there first
    assert b.flush() == 0 and sink_b.batches == []
    store.last_request = real_last
    assert box_b.depth == 1


def test_unreadable_shared_stamps_mean_wait(tmp_path):
    clock, store = Clock(), MemoryLimits()
    a, box_a, sink_a = uplink(tmp_path, "a", store, clock)
    box_a.put(readings(1), ["alice"])
    store.broken = True
    assert a.flush() == 0 and sink_a.batches == []
    assert a.next_due() == clock.now + 1.0
    store.broken = False
    assert a.flush() == 1


def test_no_request_made_gives_the_window_back(tmp_path):
    clock, store = Clock(), MemoryLimits()
    refuse = SenderSink(
        answer=lambda batch: SendResult.partial(rejected={0: "too old"}, requested=False)
    )
    a, box_a, _ = uplink(tmp_path, "a", store, clock, refuse)
    b, box_b, sink_b = uplink(tmp_path, "b", store, clock)
    box_a.put(readings(1), ["alice"])
    box_b.put(readings(1), ["alice"])
    a.flush()
    assert store.released == ["alice"]
    assert b.flush() == 1 and len(sink_b.batches) == 1
