"""The sink with the core's delivery worker against the sandbox, over real HTTP, on one
test clock shared by the core, the sink and the sandbox (the platform's own 10-minute
window, moved forward instead of waited for)."""

from __future__ import annotations

import itertools
import logging
from datetime import UTC, datetime, timedelta

from wattbridge import Reading

WINDOW = 605.001  # request_interval 10m + request_margin 5s (+1 ms: datetimes round to 1 us)


def quarter_hours(stream, count, start=None, value=1000.0):
    start = start or datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(
        days=40
    )
    return [Reading(stream, start + timedelta(minutes=15 * n), value + n) for n in range(count)]


def keys(sandbox, senders, **extra):
    return {
        "url": sandbox.url,
        "senders": {
            name: {"token": sandbox.tokens.get(name, "not-a-token"), "meters": meters}
            for name, meters in senders.items()
        },
        **extra,
    }


def stored(sandbox, meter):
    return sandbox.values(meter).get(meter, {})


def utc_key(reading):
    return reading.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_one_request_per_sender_per_window_and_across_restart(sandbox, clock, make_sink):
    sandbox.add_meters(["M1"])
    settings = keys(sandbox, {"sender-1": {"s1": "M1"}}, max_payload_bytes=1000)
    running = make_sink(clock, **settings)
    readings = quarter_hours("s1", 100)  # about 2.6 KB: three requests of 1000 bytes
    running.queue(readings)
    assert running.worker.flush() > 0
    assert running.worker.flush() == 0  # inside the window: nothing
    clock.advance(WINDOW - 10)
    assert running.worker.flush() == 0
    assert len(sandbox.requests()) == 1
    running.close()
    # A restart inside the window must not send early either.
    running = make_sink(clock, **settings)
    assert running.worker.flush() == 0
    clock.advance(10)
    assert running.worker.flush() > 0
    while running.outbox.depth:
        clock.advance(WINDOW)
        assert running.worker.flush() > 0
    log = sandbox.requests()
    assert [r.status for r in log] == [200] * len(log) and len(log) == 3
    assert all(r.size <= 1000 for r in log)
    assert all(b.at - a.at >= 600 for a, b in itertools.pairwise(log))
    assert stored(sandbox, "M1") == {utc_key(r): r.value for r in readings}


def test_per_meter_partial_failure(sandbox, clock, make_sink):
    sandbox.add_meters(["OK", "BUSY"])
    sandbox.force_status("BUSY", 503)
    running = make_sink(
        clock, **keys(sandbox, {"sender-1": {"ok": "OK", "unknown": "GHOST", "busy": "BUSY"}})
    )
    running.queue(quarter_hours("ok", 3) + quarter_hours("unknown", 2) + quarter_hours("busy", 4))
    running.worker.flush()
    assert len(stored(sandbox, "OK")) == 3
    letters = running.outbox.dead_letters()
    assert [d.reading.stream for d in letters] == ["unknown", "unknown"]
    assert "meter GHOST: status 404" in letters[0].reason
    assert running.outbox.depth == 4  # the busy meter's readings wait for the next window
    sandbox.force_status("BUSY", None)
    clock.advance(WINDOW - 1)
    running.worker.flush()
    assert running.outbox.depth == 4
    clock.advance(1)
    running.worker.flush()
    assert running.outbox.depth == 0 and len(stored(sandbox, "BUSY")) == 4


def test_values_older_than_five_years_are_dead_lettered_before_sending(sandbox, clock, make_sink):
    sandbox.add_meters(["M1"])
    running = make_sink(clock, **keys(sandbox, {"sender-1": {"s1": "M1"}}))
    now = datetime.fromtimestamp(clock(), UTC)
    old = [
        Reading("s1", now.replace(year=now.year - 5, minute=0, second=0, microsecond=0), 1.0),
        Reading("s1", now - timedelta(days=5 * 366), 2.0),
    ]
    running.queue(old)
    running.worker.flush()
    assert sandbox.requests() == []  # nothing was sent, and the window is not used up
    assert all("older than five years" in d.reason for d in running.outbox.dead_letters())
    fresh = quarter_hours("s1", 2)
    running.queue([*fresh, Reading("s1", now, "text")])
    running.worker.flush()
    assert len(sandbox.requests()) == 1
    assert stored(sandbox, "M1") == {utc_key(r): r.value for r in fresh}
    assert "only numbers" in running.outbox.dead_letters()[-1].reason


def test_every_request_within_the_bound_and_packed_close_to_it(sandbox, clock, make_sink):
    meters = {f"s{n}": f"M{n}" for n in range(4)}
    sandbox.add_meters(meters.values())
    running = make_sink(clock, **keys(sandbox, {"sender-1": meters}))
    readings = [r for stream in meters for r in quarter_hours(stream, 9000)]
    running.queue(readings)
    while running.outbox.depth:
        assert running.worker.flush() > 0
        clock.advance(WINDOW)
    sizes = [r.size for r in sandbox.requests()]
    assert all(r.status == 200 for r in sandbox.requests())
    assert max(sizes) <= 500_000
    assert min(sizes[:-1]) >= 0.99 * 500_000  # all but the last are full
    assert sum(len(v) for v in sandbox.values().values()) == len(readings)


def test_401_halts_only_that_sender_and_never_shows_the_token(sandbox, clock, make_sink, caplog):
    sandbox.add_meters(["A", "B"])
    settings = keys(sandbox, {"sender-1": {"a": "A"}, "wrong": {"b": "B"}})
    settings["senders"]["wrong"]["token"] = "secret-wrong-token-1234"
    running = make_sink(clock, **settings)
    running.queue(quarter_hours("a", 5) + quarter_hours("b", 5))
    with caplog.at_level(logging.DEBUG):
        running.worker.flush()
        clock.advance(WINDOW)
        running.worker.flush()
    assert len(stored(sandbox, "A")) == 5
    assert running.outbox.depth == 5  # sender "wrong" keeps its readings queued
    status = running.outbox.status()
    assert "sender profile 'wrong'" in status.halted and "senders.wrong.token" in status.halted
    assert [r.status for r in sandbox.requests()] == [200, 401]  # halted: no second try
    text = caplog.text + str(status)
    for token in ("secret-wrong-token-1234", sandbox.tokens["sender-1"]):
        assert token not in text


def test_429_500_and_a_hang_wait_for_the_next_window(sandbox, clock, make_sink):
    sandbox.add_meters(["M1"])
    running = make_sink(clock, **keys(sandbox, {"sender-1": {"s1": "M1"}}, timeout="300ms"))
    readings = quarter_hours("s1", 10)
    running.queue(readings)
    sandbox.window = 700  # the platform counts a longer window than we do: a 429
    sandbox.handle_import(sandbox.tokens["sender-1"], 0, lambda: b"[]")
    clock.advance(WINDOW)
    running.worker.flush()
    assert [r.status for r in sandbox.requests()] == [200, 429]
    assert running.outbox.status().last_error.endswith("(too many requests)")
    clock.advance(WINDOW - 1)
    running.worker.flush()  # Retry-After said 95 s, but we wait a whole window
    assert len(sandbox.requests()) == 2
    sandbox.window = 600
    sandbox.fail_next(1, "500")
    clock.advance(1)
    running.worker.flush()
    sandbox.fail_next(1, "hang", seconds=2)
    clock.advance(WINDOW)
    running.worker.flush()
    assert "no complete answer within 0.3s" in running.outbox.status().last_error
    assert running.outbox.depth == 10
    clock.advance(WINDOW)
    running.worker.flush()
    assert [r.status for r in sandbox.requests()] == [200, 429, 500, 500, 200]
    assert running.outbox.depth == 0 and len(stored(sandbox, "M1")) == 10


def test_413_packs_smaller(sandbox, clock, make_sink, caplog):
    sandbox.add_meters(["M1"])
    sandbox.max_bytes = 2000  # stricter than the sink believes
    running = make_sink(clock, **keys(sandbox, {"sender-1": {"s1": "M1"}}, max_payload_bytes=3000))
    running.queue(quarter_hours("s1", 300))
    for _ in range(40):
        running.worker.flush()
        if not running.outbox.depth:
            break
        clock.advance(WINDOW)
    assert running.outbox.depth == 0
    statuses = [r.status for r in sandbox.requests()]
    assert statuses[:2] == [413, 413] and set(statuses[statuses.index(200) :]) == {200}
    assert "payload too large" in caplog.text
    assert int(running.sink.context.state.get("limit:sender-1")) <= 2000  # kept for restarts
    assert len(stored(sandbox, "M1")) == 300


def test_local_time_zone_end_to_end(sandbox, clock, make_sink):
    sandbox.add_meters(["M1"])
    sandbox.timezone = "Europe/Copenhagen"
    running = make_sink(
        clock, **keys(sandbox, {"sender-1": {"s1": "M1"}}, timezone="Europe/Copenhagen")
    )
    readings = quarter_hours("s1", 8)
    running.queue(readings)
    running.worker.flush()
    assert stored(sandbox, "M1") == {utc_key(r): r.value for r in readings}


def test_readings_of_a_removed_profile_are_dead_lettered_not_sent_with_another_token(
    sandbox, clock, make_sink
):
    sandbox.add_meters(["M1"])
    running = make_sink(clock, **keys(sandbox, {"sender-1": {"s1": "M1"}}))
    running.outbox.put(quarter_hours("s1", 2), ["gone", "gone"])  # queued under an old config
    running.worker.flush()
    assert sandbox.requests() == []
    letters = running.outbox.dead_letters()
    assert (
        len(letters) == 2
        and "profile 'gone', which is no longer in the config" in letters[0].reason
    )


def test_a_post_that_went_out_late_holds_the_next_one_a_full_window_after_it(
    sandbox, clock, make_sink
):
    sandbox.add_meters(["M1"])
    running = make_sink(clock, **keys(sandbox, {"sender-1": {"s1": "M1"}}, max_payload_bytes=1000))
    running.queue(quarter_hours("s1", 60))
    running.worker.flush()
    # As if packing had taken 50 s between the core's stamp and the post going out.
    state = running.sink.context.state
    state.set("posted:sender-1", repr(float(state.get("posted:sender-1")) + 50))
    clock.advance(WINDOW)
    running.worker.flush()  # the core's window is over, the platform's is not
    assert len(sandbox.requests()) == 1
    clock.advance(49)
    running.worker.flush()
    assert len(sandbox.requests()) == 1
    clock.advance(1.001)
    running.worker.flush()
    assert [r.status for r in sandbox.requests()] == [200, 200]
