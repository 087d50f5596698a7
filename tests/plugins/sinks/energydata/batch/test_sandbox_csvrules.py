"""The sandbox's own reading of the batch-import format, against Python's csv module
(an RFC 4180 writer nobody here wrote) and the platform's example file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge_plugins.sinks.energydata.sandbox.csvrules import (
    FileError,
    format_ms,
    header,
    records,
    timestamp,
    value,
)

# The platform's example file, as its batch-import text prints it.
PLATFORM_EXAMPLE = (
    ";117217;my/topic;119221\n"
    "2021-03-10T20:24:30.139Z;a_string;23.4121;-10\n"
    '2021-03-10T20:24:31.144Z;"another string";999888777.121;0\n'
    "2021-03-10T20:24:32.161Z;a third string;-1.33e-16;45\n"
    "2021-03-10T20:24:33.186Z;;54.1;11\n"
    "2021-03-10T20:24:34.201Z;a-fourth-string;;45\n"
)

field_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12)


def test_the_platform_example_reads_as_its_text_says() -> None:
    rows = list(records(io.StringIO(PLATFORM_EXAMPLE)))
    assert header(rows[0].fields) == ["117217", "my/topic", "119221"]
    kinds = ("string", "double", "integer")
    parsed = [
        [
            value(f, k) if (f or q) else None
            for f, q, k in zip(r.fields[1:], r.quoted[1:], kinds, strict=True)
        ]
        for r in rows[1:]
    ]
    assert parsed[1] == ["another string", 999888777.121, 0]
    assert parsed[3][0] is None and parsed[4][1] is None  # the two empty fields
    assert format_ms(timestamp(rows[1].fields[0])) == "2021-03-10T20:24:30.139Z"


@given(st.lists(st.lists(field_text, min_size=2, max_size=4), min_size=1, max_size=6))
def test_what_pythons_csv_writer_writes_reads_back_field_for_field(
    table: list[list[str]],
) -> None:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(table)
    lines = io.StringIO(out.getvalue(), newline="").readlines()
    assert [r.fields for r in records(lines)] == table


@given(st.integers(min_value=-(2**40), max_value=2**45))
def test_timestamps_round_trip(epoch_ms: int) -> None:
    assert timestamp(format_ms(epoch_ms)) == epoch_ms


@pytest.mark.parametrize(
    ("text", "words"),
    [('x;"a"b\n', "closing quote"), ('x;a"b\n', "unquoted field"), ('x;"open\n', "never closed")],
)
def test_broken_quoting_names_its_line(text: str, words: str) -> None:
    with pytest.raises(FileError, match=words) as refused:
        list(records(io.StringIO(";a\n" + text)))
    assert refused.value.line == 2


@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(min_value=1, max_value=6),
)
def test_timestamps_with_one_to_six_fractional_digits_keep_their_milliseconds(
    moment: datetime, digits: int
) -> None:
    # Written by strftime's %f (the platform's own client) and cut to `digits`.
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[: 20 + digits] + "Z"
    kept = int(f"{moment.microsecond:06d}"[:digits].ljust(6, "0")) // 1000
    whole = moment.replace(microsecond=0, tzinfo=UTC)
    assert (
        timestamp(text)
        == (whole - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1) + kept
    )


@pytest.mark.parametrize(
    "text", ["2021-03-10T20:24:30Z", "2021-03-10T20:24:30.1234567Z", "2021-03-10T20:24:30.139"]
)
def test_timestamps_without_a_fraction_seven_digits_or_no_zone_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        timestamp(text)
