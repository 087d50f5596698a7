"""Segments in the outbox: a large put is one row, yet every operation sees its readings
one by one, exactly as rows. A state machine mixes small puts (rows) and large ones
(segments), takes, partial acks, dead letters, failed attempts and reopens, against a
plain list: nothing lost, nothing twice, order kept."""

from __future__ import annotations

import logging
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from wattbridge import Reading
from wattbridge._delivery import SinkWorker
from wattbridge._outbox import Outbox, OutboxDamaged, OutboxState, queued_in_file
from wattbridge._salvage import salvage
from wattbridge._segment import SEGMENT_MIN
from wattbridge._sinks import SinkContext
from wattbridge_plugins.sinks.jsonl import JsonlConfig, JsonlSink

T0 = datetime(2026, 1, 1, tzinfo=UTC)
CREDENTIALS = ("", "alice", "bob")


def segments_in(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM segment").fetchone()[0])


def rows_in(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM queue").fetchone()[0])


def make(n: int, start: int = 0, streams: tuple[str, ...] = ("a", "b", "c")) -> list[Reading]:
    """Readings of every value type, three streams a timestamp (as a file's rows give)."""
    values: list[object] = [1.5, 7, "on", 2**62, -0.25]
    return [
        Reading(streams[i % len(streams)], T0 + timedelta(seconds=i // 3), values[i % 5], "W", "s")
        for i in range(start, start + n)
    ]


@dataclass
class Queued:
    """A reading as the model holds it."""

    id: int
    reading: Reading
    credential: str
    attempts: int = 0


class OutboxModel(RuleBasedStateMachine):
    """The outbox against a list of :class:`Queued`."""

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp())
        self.path = self.folder / "o.sqlite"
        self.box = Outbox(self.path)
        self.model: list[Queued] = []
        self.dead: list[tuple[Reading, int]] = []
        self.sent = 0
        self.made = 0
        self.taken: list[int] = []
        self.highest_id = 0

    def teardown(self) -> None:
        self.box.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    @rule(
        size=st.one_of(st.integers(1, 5), st.integers(SEGMENT_MIN - 1, SEGMENT_MIN + 150)),
        mixed=st.booleans(),
        credential=st.sampled_from(CREDENTIALS),
    )
    def put(self, size: int, mixed: bool, credential: str) -> None:
        readings = make(size, self.made)
        self.made += size
        if mixed:  # runs of credentials: long runs become segments, short ones rows
            credentials = [CREDENTIALS[(i // 70) % 3] for i in range(size)]
        else:
            credentials = [credential] * size
        plain = not mixed and credential == ""  # a sink without credentials passes none
        self.box.put(readings, None if plain else credentials)
        batch_ids = range(self.highest_id + 1, self.highest_id + 1 + size)
        self.highest_id += size
        self.model += map(Queued, batch_ids, readings, credentials)

    @rule(limit=st.integers(1, 300), credential=st.sampled_from((None, *CREDENTIALS)))
    def take(self, limit: int, credential: str | None) -> None:
        batch = self.box.take(limit, credential)
        expected = [i for i in self.model if credential in (None, i.credential)][:limit]
        assert list(batch.ids) == [item.id for item in expected]
        assert list(batch.readings) == [item.reading for item in expected]
        assert [type(r.value) for r in batch.readings] == [type(i.reading.value) for i in expected]
        self.taken = list(batch.ids)

    @precondition(lambda self: self.taken)
    @rule(data=st.data())
    def ack(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.taken), unique=True))
        self.box.ack(ids)
        queued = {item.id for item in self.model}
        self.sent += len(set(ids) & queued)
        self.model = [item for item in self.model if item.id not in set(ids)]

    @precondition(lambda self: self.taken)
    @rule(data=st.data())
    def deadletter(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.taken), unique=True, max_size=5))
        moved = self.box.deadletter({i: f"refused {i}" for i in ids})
        by_id = {item.id: item for item in self.model}
        gone = [by_id[i] for i in ids if i in by_id]
        assert moved == len(gone)
        self.dead += [(item.reading, item.attempts + 1) for item in gone]
        self.model = [item for item in self.model if item.id not in set(ids)]

    @precondition(lambda self: self.taken)
    @rule(data=st.data())
    def fail(self, data: st.DataObject) -> None:
        ids = data.draw(st.lists(st.sampled_from(self.taken), unique=True))
        self.box.count_attempt(ids)
        for item in self.model:
            if item.id in ids:
                item.attempts += 1

    @rule()
    def reopen(self) -> None:
        self.box.close()
        self.box = Outbox(self.path)

    @invariant()
    def holds_exactly_the_model(self) -> None:
        assert self.box.depth == len(self.model)
        assert list(self.box.iter_queued()) == [item.reading for item in self.model]
        status = self.box.status()
        assert status.depth == len(self.model)
        assert status.sent_total == self.sent
        if self.model:
            oldest = self.model[0].reading
            assert status.oldest_reading == oldest.timestamp.isoformat()
        else:
            assert status.oldest_reading is None
        firsts: dict[str, int] = {}
        for item in self.model:
            firsts.setdefault(item.credential, item.id)
        assert self.box.credentials_waiting() == sorted(firsts, key=firsts.__getitem__)
        letters = self.box.dead_letters()
        assert [(d.reading, d.attempts) for d in letters] == self.dead
        assert queued_in_file(self.path) == len(self.model)


TestOutboxModel = OutboxModel.TestCase
TestOutboxModel.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)


def test_a_large_put_is_one_segment_and_a_small_one_rows(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put(make(3))
    box.put(make(SEGMENT_MIN, 3))
    box.close()
    assert (rows_in(tmp_path / "o.sqlite"), segments_in(tmp_path / "o.sqlite")) == (3, 1)


def test_a_fully_acked_segment_is_deleted_with_its_last_reading(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    box.put(make(200))
    box.ack(box.take(150).ids)
    assert segments_in(tmp_path / "o.sqlite") == 1
    box.deadletter({box.take(1).ids[0]: "refused"})
    box.ack(box.take(100).ids)
    assert (box.depth, segments_in(tmp_path / "o.sqlite")) == (0, 0)
    assert box.status().sent_total == 199
    box.close()


def test_an_outbox_made_before_segments_opens_and_works(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    box = Outbox(path)
    box.put(make(5))
    box.close()
    with sqlite3.connect(path) as db:  # the file as a wattbridge without segments left it
        db.execute("DROP TABLE segment")
    assert queued_in_file(path) == 5
    box = Outbox(path)
    assert box.depth == 5
    box.put(make(100, 5))
    batch = box.take(1000)
    assert list(batch.readings) == make(105)
    assert batch.ids == list(range(1, 106))
    box.close()


def damage_segment(path: Path) -> int:
    """Flip one byte of the first segment's data, leaving its checksum; its first id."""
    with sqlite3.connect(path) as db:
        first_id, blob = db.execute(
            "SELECT first_id, columns FROM segment ORDER BY first_id LIMIT 1"
        ).fetchone()
        damaged = bytearray(blob)
        damaged[len(damaged) // 2] ^= 0x40
        db.execute("UPDATE segment SET columns = ? WHERE first_id = ?", (bytes(damaged), first_id))
    return int(first_id)


def test_a_damaged_segment_is_named_and_recover_salvages_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    box.put(make(3))  # rows 1-3
    box.put(make(100, 3))  # segment 4-103
    box.put(make(100, 103))  # segment 104-203
    box.close()
    first_id = damage_segment(path)
    assert first_id == 4

    # Found when it opens, as SQLite's own damage is: its sink is not started.
    with pytest.raises(OutboxDamaged) as raised:
        Outbox(path)
    assert str(path) in str(raised.value) and "from id 4" in str(raised.value)
    assert "checksum" in str(raised.value)

    fresh = Outbox(tmp_path / "fresh.sqlite")
    result = salvage(path, fresh, fresh=True)
    assert result.queued == 103
    assert any("from 4" in what and "checksum" in what for what in result.unreadable)
    batch = fresh.take(1000)
    assert list(batch.readings) == make(3) + make(100, 103)
    assert batch.ids == [1, 2, 3, *range(104, 204)]  # their ids kept: progress names them
    fresh.close()


def test_salvage_keeps_a_segment_s_acks_and_attempts(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    box.put(make(100))
    box.ack(range(1, 11))
    box.count_attempt(range(11, 21))
    box.close()
    fresh = Outbox(tmp_path / "fresh.sqlite")
    result = salvage(path, fresh, fresh=True)
    assert (result.queued, result.unreadable) == (90, [])
    batch = fresh.take(1000)
    assert list(batch.readings) == make(90, 10)
    fresh.deadletter({11: "refused", 30: "refused"})
    assert [d.attempts for d in fresh.dead_letters()] == [2, 1]
    fresh.close()


def test_take_pages_through_more_segments_than_one_read(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite")
    for n in range(100):
        box.put(make(SEGMENT_MIN, n * SEGMENT_MIN))
    box.close()
    box = Outbox(tmp_path / "o.sqlite")  # nothing kept in memory: every reading rebuilt
    everything = make(100 * SEGMENT_MIN)
    assert list(box.take(100 * SEGMENT_MIN).readings) == everything
    assert list(box.iter_queued()) == everything
    box.close()


def test_a_sink_whose_segment_is_damaged_stops_sending_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path)
    box.put(make(100))
    box.close()
    box = Outbox(path)  # intact when it opens; nothing of it in memory
    damage_segment(path)  # then a bad sector under the running sink
    out = tmp_path / "out.jsonl"
    log = logging.getLogger("test")
    sink = JsonlSink(JsonlConfig(path=out), SinkContext("out", tmp_path, log, OutboxState(box)))
    worker = SinkWorker("out", sink, box)
    assert worker.flush() == 0  # no exception out of the scheduler's job
    assert worker.lost_outbox is not None and str(path) in worker.lost_outbox
    assert "from id 1" in worker.lost_outbox
    assert box.status().oldest_reading is None and box.status().depth == 100
    with pytest.raises(OutboxDamaged):
        list(box.iter_queued())
    box.put(make(3, 100))  # sources are not stopped: what they put is kept
    assert box.depth == 103
    sink.close()
    box.close()
