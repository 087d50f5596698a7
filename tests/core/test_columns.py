"""ReadingColumns (issue 17): checked as Reading checks, the same readings either way,
and the text of their timestamps as datetime writes it."""

import json
import logging
import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge import (
    Batch,
    InvalidReading,
    Reading,
    ReadingColumns,
    SinkContext,
    StampText,
)
from wattbridge._readings import from_epoch_us, to_epoch_us
from wattbridge_plugins.common.energydata_csv import format_ms
from wattbridge_plugins.sinks.jsonl import JsonlConfig, JsonlSink

T0 = datetime(2026, 1, 1, tzinfo=UTC)
US = 1_767_225_600_000_000  # T0 in epoch microseconds

names = st.text(min_size=0, max_size=6)
instants = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)
anything = st.one_of(
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=4),
    st.none(),
    st.binary(max_size=2),
)


def reading_or_error(stream, moment, value, unit, source):
    try:
        return Reading(stream, moment, value, unit, source)
    except InvalidReading:
        return None


@given(
    st.lists(st.tuples(names, instants, anything, names, names), max_size=8),
)
def test_columns_accept_exactly_what_readings_accept_and_hold_the_same_readings(rows):
    expected = [reading_or_error(*row) for row in rows]
    streams = [row[0] for row in rows]
    stamps = [to_epoch_us(row[1]) for row in rows]
    values = [row[2] for row in rows]
    units = [row[3] for row in rows]
    sources = [row[4] for row in rows]
    if any(reading is None for reading in expected):
        with pytest.raises(InvalidReading) as raised:
            ReadingColumns(streams, stamps, values, units, sources)
        first_bad = expected.index(None)
        # The message names a position of a bad reading (the first bad field found).
        assert "[" in str(raised.value)
        assert first_bad < len(rows)
        return
    columns = ReadingColumns(streams, stamps, values, units, sources)
    assert list(columns) == expected
    assert [type(r.value) for r in columns] == [type(r.value) for r in expected]
    assert ReadingColumns.from_readings(expected) == columns
    assert columns[1:3].readings() == expected[1:3]


@pytest.mark.parametrize(
    ("column", "bad", "message"),
    [
        ("values", math.nan, r"values\[1\]: nan is not a finite number"),
        ("values", 2**63, r"values\[1\]: value 9223372036854775808 does not fit"),
        ("values", None, r"values\[1\]: value must be an int, a float or a str"),
        ("streams", " ", r"streams\[1\]: must be a non-empty string"),
        ("units", "\ud800", r"units\[1\]: unit holds a lone surrogate"),
        ("stamps", 1.5, r"stamps\[1\]: 1.5 is not whole microseconds"),
        ("stamps", 2**62, r"stamps\[1\]: \d+ is outside the years 1 to 9999"),
    ],
)
def test_a_bad_field_is_named_with_its_column_and_position(column, bad, message):
    fields = {
        "streams": ["a", "b"],
        "stamps": [US, US],
        "values": [1.0, 2.0],
        "units": ["kWh", "kWh"],
        "sources": ["s", "s"],
    }
    fields[column][1] = bad
    with pytest.raises(InvalidReading, match=message):
        ReadingColumns(**fields)


def test_columns_of_unequal_length_are_refused():
    with pytest.raises(InvalidReading, match="unequal length: 2 streams, 1 timestamps"):
        ReadingColumns(["a", "b"], [US], [1, 2], ["", ""], ["", ""])


def test_a_bool_becomes_an_int_as_in_a_reading():
    columns = ReadingColumns.of(["a", "b"], [US, US], [True, False])
    assert columns.values == [1, 0]
    assert [type(v) for v in columns.values] == [int, int]


def test_named_fills_only_missing_sources_and_joined_keeps_order():
    columns = ReadingColumns(["a", "b"], [US, US + 1], [1, 2], ["", ""], ["", "meter"])
    named = columns.named("file")
    assert named.sources == ["file", "meter"]
    assert columns.sources == ["", "meter"]  # the original is not changed
    whole = ReadingColumns.joined([named[1:], named[:1]])
    assert [r.stream for r in whole] == ["b", "a"]
    assert whole.stamps == [US + 1, US]


@given(instants)
def test_stamp_text_is_what_datetime_writes(moment):
    epoch_us = to_epoch_us(moment)
    text = StampText()
    assert from_epoch_us(epoch_us) == moment
    assert text.iso(epoch_us) == moment.isoformat()
    assert text.iso_ms(epoch_us) == format_ms(epoch_us // 1000)


@given(st.lists(instants, max_size=20))
def test_stamp_text_of_a_column_is_each_stamps_text(moments):
    stamps = [to_epoch_us(moment) for moment in sorted(moments) for _ in range(2)]
    assert StampText().isos(stamps) == [from_epoch_us(s).isoformat() for s in stamps]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b/c", 'q"uote']),
            instants,
            st.one_of(
                st.integers(-(2**63), 2**63 - 1),
                st.floats(allow_nan=False, allow_infinity=False),
                st.text(max_size=5),
            ),
            st.sampled_from(["", "kWh"]),
            st.sampled_from(["", "src", "ø"]),
        ),
        max_size=30,
    )
)
def test_jsonl_lines_from_columns_are_each_readings_to_dict(tmp_path_factory, rows):
    readings = [Reading(*row) for row in rows]
    folder = tmp_path_factory.mktemp("jsonl")
    sink = JsonlSink(
        JsonlConfig(path=folder / "out.jsonl"),
        SinkContext("out", folder, logging.getLogger("test"), state=None),  # type: ignore[arg-type]
    )
    for batch in (
        Batch(readings=readings, ids=list(range(len(readings)))),
        Batch(readings=ReadingColumns.from_readings(readings), ids=list(range(len(readings)))),
    ):
        text = sink.format(batch)
        assert text.endswith("\n") or not readings
        lines = text.split("\n")[:-1]  # not splitlines: "\x85" in a value breaks a line there
        assert [json.loads(line) for line in lines] == [r.to_dict() for r in readings]
