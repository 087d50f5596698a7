"""The jsonl sink's lines read back, with Reading.from_dict, to the readings sent:
whatever the names, values and instants, and however instants repeat in a batch (the
sink makes an instant's text once for the readings that share it)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from wattbridge import Batch, Reading, SinkContext
from wattbridge_plugins.sinks.jsonl import JsonlConfig, JsonlSink

values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)
names = st.text(min_size=1).filter(str.strip)
readings = st.builds(Reading, names, instants, values, st.text(), st.text())
# Runs of readings at one instant, as a poll or a file's row makes them.
rows = st.tuples(instants, st.lists(st.tuples(names, values), min_size=1, max_size=4)).map(
    lambda row: [Reading(stream, row[0], value) for stream, value in row[1]]
)
batches = st.lists(st.one_of(readings.map(lambda r: [r]), rows), max_size=12).map(
    lambda groups: [r for group in groups for r in group]
)


class NoState:
    """The jsonl sink keeps no state; formatting needs no outbox."""

    def get(self, key: str) -> str | None:
        return None

    def set(self, key: str, value: str | None) -> None:
        raise AssertionError("the jsonl sink stores no state")


SINK = JsonlSink(
    JsonlConfig(path=None), SinkContext("out", Path("."), logging.getLogger("test"), NoState())
)


@given(batch=batches)
def test_lines_read_back_to_the_readings(batch: list[Reading]) -> None:
    sink = SINK
    text = sink.format(Batch(readings=batch, ids=list(range(len(batch))), credential=""))
    # "\n" only: str.splitlines would also split at U+0085 and others that JSON text
    # may hold raw.
    lines = text.split("\n")
    assert lines.pop() == ""
    assert len(lines) == len(batch)
    assert [Reading.from_dict(json.loads(line)) for line in lines] == batch
