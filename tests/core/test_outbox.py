"""The outbox: durable, ordered, typed; acked, dead-lettered and replayed exactly."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge import Reading
from wattbridge._outbox import Outbox, _id_ranges

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def readings(n, start=0, stream="s"):
    return [
        Reading(stream, T0 + timedelta(seconds=i), float(i), "W", "src")
        for i in range(start, start + n)
    ]


def test_put_take_ack_keeps_order_and_types(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    items = [
        Reading("a", T0, 1000.0),
        Reading("b", T0, 7),
        Reading("c", T0, "text"),
        Reading("d", T0, 2**62),
    ]
    box.put(items)
    batch = box.take(10)
    assert list(batch.readings) == items
    assert [type(r.value) for r in batch.readings] == [float, int, str, int]
    box.ack(batch.ids[:2])
    assert box.depth == 2
    assert list(box.take(10).readings) == items[2:]


def test_survives_reopen(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.put(readings(5))
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.depth == 5
    assert list(again.take(10).readings) == readings(5)


def test_ids_never_repeat_after_the_queue_empties(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.put(readings(3))
    first = box.take(10)
    box.ack(first.ids)
    box.put(readings(3))
    second = box.take(10)
    assert min(second.ids) > max(first.ids)
    assert first.key != second.key
    box.ack(second.ids)
    box.close()
    reopened = Outbox(tmp_path / "o.sqlite")
    reopened.put(readings(1))
    assert reopened.take(1).ids[0] > max(second.ids)
    batch = reopened.take(1)
    reopened.deadletter({batch.ids[0]: "x"})
    reopened.replay()
    assert reopened.take(1).ids[0] > batch.ids[0]


def test_deadletter_and_replay(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.put(readings(4))
    batch = box.take(4)
    box.deadletter({batch.ids[1]: "bad type", batch.ids[3]: "too old"})
    assert box.depth == 2
    letters = box.dead_letters()
    assert [(d.reading.value, d.reason) for d in letters] == [(1.0, "bad type"), (3.0, "too old")]
    assert box.replay([letters[0].id]) == 1
    assert box.depth == 3
    assert [d.reason for d in box.dead_letters()] == ["too old"]
    assert box.replay() == 1
    assert box.dead_letters() == []
    assert sorted(r.value for r in box.iter_queued()) == [0.0, 1.0, 2.0, 3.0]


def test_room_and_bound(tmp_path):
    box = Outbox(tmp_path / "o.sqlite", max_queue=3)
    box.put(readings(2))
    assert box.has_room()
    box.put(readings(2))
    assert not box.has_room()
    assert not box.wait_for_room(0.01)
    box.ack(box.take(2).ids)
    assert box.has_room() and box.wait_for_room(0.01)


def test_credentials_are_taken_separately_oldest_first(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.use_credentials()
    box.put(readings(2, stream="x"), ["bob", "bob"])
    box.put(readings(2, stream="y"), ["alice", "bob"])
    assert box.credentials_waiting() == ["bob", "alice"]
    assert [r.stream for r in box.take(10, "alice").readings] == ["y"]
    assert len(box.take(10, "bob")) == 3


def test_state_and_status(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.set_state("k", "v")
    assert box.get_state("k") == "v"
    box.set_state("k", None)
    assert box.get_state("k") is None
    box.put(readings(3))
    box.ack(box.take(1).ids)
    status = box.status()
    assert status.depth == 2
    assert status.sent_total == 1
    assert status.oldest_reading == (T0 + timedelta(seconds=1)).isoformat()


@settings(max_examples=200)
@given(st.sets(st.integers(1, 200)))
def test_id_ranges_cover_exactly_the_ids(ids):
    ranges = _id_ranges(ids)
    covered = {i for a, b in ranges for i in range(a, b + 1)}
    assert covered == ids
    assert all(ranges[i][1] + 1 < ranges[i + 1][0] for i in range(len(ranges) - 1))


@settings(max_examples=200)
@given(st.integers(1, 100), st.integers(0, 50), st.permutations(range(8)), st.booleans())
def test_id_ranges_of_a_shuffled_run_or_one_with_a_gap(first, size, order, gap):
    ids = [first + i for i in range(size)]
    if gap and size > 2:
        del ids[size // 2]
    shuffled = sorted(ids, key=lambda i: order[i % 8])
    covered = {i for a, b in _id_ranges(shuffled) for i in range(a, b + 1)}
    assert covered == set(ids)
    assert len(_id_ranges(shuffled)) == (0 if not ids else 2 if gap and size > 2 else 1)


def test_replay_can_assign_credentials_afresh(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.use_credentials()
    box.put(readings(2), ["old-sender", "old-sender"])
    batch = box.take(2)
    box.deadletter({batch.ids[0]: "unknown meter", batch.ids[1]: "unknown meter"})
    box.replay(credential=lambda r: "new-sender" if r.value == 0.0 else "other")
    assert sorted(box.credentials_waiting()) == ["new-sender", "other"]
    assert [r.value for r in box.take(5, "new-sender").readings] == [0.0]


def test_take_gives_the_same_readings_whether_kept_in_memory_or_rebuilt(tmp_path, monkeypatch):
    import wattbridge._outbox

    monkeypatch.setattr(wattbridge._outbox, "RECENT_MAX", 7)
    box = Outbox(tmp_path / "o.sqlite")
    box.put(readings(5))  # kept in memory
    box.put(readings(5, start=5))  # over the bound: rebuilt from the database
    assert len(box._recent) == 5
    batch = box.take(10)
    assert list(batch.readings) == readings(10)
    box.ack(batch.ids[:3])
    box.deadletter({batch.ids[3]: "bad"})
    assert sorted(box._recent) == batch.ids[4:5]
    assert list(box.take(10).readings) == readings(10)[4:]
