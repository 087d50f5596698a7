"""Delivery: what each SendResult does to the queue, backoff, rate limits, halts."""

from datetime import UTC, datetime, timedelta

import attrs

from wattbridge import Batch, Reading, SendResult, SinkLimits
from wattbridge._delivery import SinkWorker
from wattbridge._deliverystate import DeliveryState
from wattbridge._outbox import Outbox
from wattbridge._sinks import SinkAdapter

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, now=1_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


@attrs.define
class ScriptedSink:
    """A sink whose answers the test scripts; records every batch it was given."""

    answers: list
    limits: SinkLimits = SinkLimits(max_batch=10)
    batches: list = attrs.Factory(list)

    def send(self, batch: Batch) -> SendResult:
        self.batches.append(list(batch.readings))
        answer = self.answers.pop(0) if self.answers else "ok"
        if callable(answer):
            return answer(batch)
        if answer == "ok":
            return SendResult.all_ok(batch)
        if isinstance(answer, Exception):
            raise answer
        return answer


def items(n, stream="s"):
    return [Reading(stream, T0 + timedelta(seconds=i), i) for i in range(n)]


def worker(tmp_path, sink, clock, **kw):
    outbox = Outbox(tmp_path / "o.sqlite")
    return SinkWorker(
        "t",
        SinkAdapter(sink),
        outbox,
        clock=clock,
        retry_initial=timedelta(seconds=1),
        retry_max=timedelta(seconds=60),
        **kw,
    ), outbox


def test_ok_drains_everything_in_batches(tmp_path):
    sink = ScriptedSink([])
    w, box = worker(tmp_path, sink, Clock())
    box.put(items(25))
    assert w.flush() == 25
    assert box.depth == 0
    assert [len(b) for b in sink.batches] == [10, 10, 5]
    assert box.status().last_success is not None


def test_retry_backs_off_with_jitter_and_honours_not_before(tmp_path):
    clock = Clock()
    start = clock.now
    later = datetime.fromtimestamp(start + 30, UTC)
    sink = ScriptedSink(
        [
            lambda b: SendResult.all_retry(b, "HTTP 500"),
            lambda b: SendResult.all_retry(b, "HTTP 429", not_before=later),
        ]
    )
    w, box = worker(tmp_path, sink, clock)
    box.put(items(3))
    assert w.flush() == 0
    assert box.depth == 3
    due = w.next_due()
    assert clock.now + 0.5 <= due <= clock.now + 1.0  # equal jitter of the first 1s step
    assert w.flush() == 0 and len(sink.batches) == 1  # not due yet: nothing sent
    clock.now = due
    w.flush()
    assert w.next_due() == start + 30  # not_before is later than the 2s backoff
    assert box.status().last_error == "HTTP 429"
    assert all(a == 2 for (a,) in box._db.execute("SELECT attempts FROM queue"))
    clock.now = start + 30
    assert w.flush() == 3
    assert box.status().next_attempt_at is None


def test_exception_in_send_is_a_retry_with_its_text(tmp_path):
    w, box = worker(tmp_path, ScriptedSink([ConnectionError("refused")]), Clock())
    box.put(items(2))
    w.flush()
    assert box.depth == 2
    assert box.status().last_error == "ConnectionError: refused"


def test_partial_result(tmp_path):
    sink = ScriptedSink(
        [
            lambda b: SendResult.partial(ok=[0, 2], rejected={1: "not a number"}, retry=[3]),
        ]
    )
    deadlettered = []
    w, box = worker(tmp_path, sink, Clock(), on_deadletter=lambda *a: deadlettered.append(a))
    box.put(items(5))
    w.flush()
    remaining = sorted(r.value for r in box.iter_queued())
    assert remaining == [3, 4]  # 3 to retry, 4 was never sent
    assert [d.reason for d in box.dead_letters()] == ["not a number"]
    assert deadlettered[0][0] == "t" and deadlettered[0][1][0].value == 1


def test_pending_is_not_a_failure(tmp_path):
    clock = Clock()
    soon = datetime.fromtimestamp(clock.now + 5, UTC)
    sink = ScriptedSink([lambda b: SendResult.in_progress("validating", soon)])
    w, box = worker(tmp_path, sink, clock)
    box.put(items(2))
    w.flush()
    assert box.status().last_error is None
    assert w.next_due() == clock.now + 5
    box.put(items(3))  # newer readings wait behind the batch in progress
    clock.now += 5
    assert w.flush() == 5
    assert len(sink.batches) == 3
    assert sink.batches[0] == sink.batches[1] and len(sink.batches[1]) == 2
    assert len(sink.batches[2]) == 3


def test_halt_keeps_readings_and_stops_sending(tmp_path):
    sink = ScriptedSink([lambda b: SendResult.halted("401: token refused")])
    w, box = worker(tmp_path, sink, Clock())
    box.put(items(2))
    w.flush()
    w.flush()
    assert len(sink.batches) == 1
    assert box.depth == 2
    assert "401: token refused" in box.status().halted
    # A restart (Runtime.start) lifts the halt: sending resumes with the fixed config.
    assert DeliveryState(box).lift_halts() == ["401: token refused"]
    assert w.flush() == 2


@attrs.define
class PerSenderSink(ScriptedSink):
    limits: SinkLimits = SinkLimits(max_batch=100, min_interval=timedelta(minutes=10))

    def credential(self, reading):
        return reading.stream


def test_min_interval_per_credential_survives_a_restart(tmp_path):
    clock = Clock()
    sink = PerSenderSink([])
    w, box = worker(tmp_path, sink, clock)
    box.put(items(2, "alice"), ["alice"] * 2)
    box.put(items(2, "bob"), ["bob"] * 2)
    assert w.flush() == 4
    assert [b[0].stream for b in sink.batches] == ["alice", "bob"]
    box.put(items(1, "alice"), ["alice"])
    clock.now += 599
    box.close()
    # A restart: a new outbox and worker on the same file still know the window.
    again = Outbox(tmp_path / "o.sqlite")
    sink2 = PerSenderSink([])
    w2 = SinkWorker("t", SinkAdapter(sink2), again, clock=clock)
    assert w2.flush() == 0 and sink2.batches == []
    clock.now += 1
    assert w2.flush() == 1


def test_request_not_made_does_not_use_the_window(tmp_path):
    clock = Clock()
    sink = PerSenderSink([lambda b: SendResult.partial(rejected={0: "too old"}, requested=False)])
    w, box = worker(tmp_path, sink, clock)
    box.put(items(2, "alice"), ["alice"] * 2)
    w.flush()
    assert box.depth == 0  # the second was sent at once: the window was still free
    assert len(sink.batches) == 2
