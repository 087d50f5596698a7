"""The CSV conversions: timestamps, values, quoting, and a reader that never crashes."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge import DataError
from wattbridge_plugins.common.energydata_csv import (
    EPOCH,
    StampReader,
    ValueMismatch,
    check_value,
    format_ms,
    format_value,
    iter_records,
    parse_instant,
    parse_moment,
    parse_timestamp,
    parse_value,
    to_ms,
    write_file,
)


def test_timestamps_are_written_and_read_as_documented() -> None:
    moment = datetime(2021, 5, 1, 10, 12, 44, 432999, tzinfo=UTC)
    assert format_ms(to_ms(moment)) == "2021-05-01T10:12:44.432Z"  # truncated, not rounded
    assert parse_timestamp("2021-05-01T10:12:44.432Z") == to_ms(moment)
    assert format_ms(0) == "1970-01-01T00:00:00.000Z"
    assert format_ms(-1) == "1969-12-31T23:59:59.999Z"


def test_any_zoned_instant_is_read_as_the_same_moment() -> None:
    # Files from other tools: whole seconds, an offset; all unambiguous, all one moment.
    same = {
        parse_timestamp(text)
        for text in (
            "2021-05-01T10:12:44.000Z",
            "2021-05-01T10:12:44Z",
            "2021-05-01T12:12:44+02:00",
            "2021-05-01 10:12:44.000000+00:00",
        )
    }
    assert same == {parse_timestamp("2021-05-01T10:12:44.000Z")}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2021-05-01T10:12:44.432", "no time zone"),
        ("2021-05-01 10:12:44", "no time zone"),
        ("2021-05-01T10:12:44+0200", "not ISO 8601"),
        ("2021-02-30T10:12:44.432Z", "not a real date"),
        ("2021-02-30T10:12:44+01:00", "not a real date"),
        (" 2021-05-01T10:12:44.432Z", "not ISO 8601"),
        ("yesterday", "not ISO 8601"),
    ],
)
def test_bad_timestamps_are_refused_with_the_reason(text: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_timestamp(text)


def test_instants_need_a_zone() -> None:
    assert parse_instant("2021-05-01T10:00:00Z") == parse_instant("2021-05-01T12:00:00+02:00")
    with pytest.raises(ValueError, match="no time zone"):
        parse_instant("2021-05-01T10:00:00")


@pytest.mark.parametrize(
    ("value", "kind", "written"),
    [(3, "integer", "3"), (3.0, "integer", "3"), (2.5, "double", "2.5"), (7, "double", "7"),
     ("a", "string", "a"), ("", "string", '""'), ('a;"b"', "string", '"a;""b"""'),
     ("x\ny", "string", '"x\ny"'), (-1.33e-16, "double", "-1.33e-16")],
)  # fmt: skip
def test_values_fit_their_type(value: object, kind: str, written: str) -> None:
    assert format_value(check_value(value, kind)) == written  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "kind"),
    [(2.5, "integer"), ("3", "integer"), (3, "string"), ("1.5", "double"), (2**63, "integer")],
)
def test_values_that_do_not_fit_are_refused(value: object, kind: str) -> None:
    with pytest.raises(ValueMismatch):
        check_value(value, kind)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "kind"), [("1.5", "integer"), ("nan", "double"), ("inf", "double"), ("1_0", "integer")]
)
def test_parse_value_refuses_what_the_platform_would(text: str, kind: str) -> None:
    with pytest.raises(ValueError):
        parse_value(text, kind)  # type: ignore[arg-type]


def test_reader_tells_an_empty_string_from_no_value_and_keeps_line_numbers() -> None:
    text = ';a;b\r\n2021-01-01T00:00:00.000Z;"";\r\n2021-01-01T00:00:01.000Z;"x\r\ny";1\r\n' \
        '2021-01-01T00:00:02.000Z;z;2\r\n'  # fmt: skip
    records = list(iter_records(io.StringIO(text, newline=""), "f.csv"))
    assert records[1] == (2, ["2021-01-01T00:00:00.000Z", "", ""], [False, True, False])
    assert records[2][0] == 3 and records[2][1][1] == "x\r\ny"
    assert records[3][0] == 5


@pytest.mark.parametrize(
    ("text", "line"),
    [(';a\n2021-01-01T00:00:00.000Z;"a\\"b"\n', 2), (';a\n2021-01-01T00:00:00.000Z;a"b\n', 2),
     (';a\n\n2021-01-01T00:00:00.000Z;"never closed\n', 3)],
)  # fmt: skip
def test_reader_refuses_broken_quoting_naming_the_line(text: str, line: int) -> None:
    with pytest.raises(DataError) as caught:
        list(iter_records(io.StringIO(text, newline=""), "f.csv"))
    assert caught.value.where == f"f.csv:{line}"


@given(st.text(alphabet=st.sampled_from(list(';"\r\nab1. ')), max_size=60))
def test_reader_never_crashes_on_random_text(text: str) -> None:
    try:
        for line, fields, quoted in iter_records(io.StringIO(text, newline=""), "f.csv"):
            assert line >= 1 and len(fields) == len(quoted)
    except DataError as exc:
        assert exc.where.startswith("f.csv:")


@given(st.lists(st.lists(st.text(max_size=8), min_size=2, max_size=2), max_size=5))
def test_written_strings_read_back_equal(rows: list[list[str]]) -> None:
    handle = io.StringIO(newline="")
    formatted = [(i, [format_value(v) for v in row]) for i, row in enumerate(rows)]
    write_file(handle, ["s1", "s2"], formatted)
    handle.seek(0)
    records = list(iter_records(handle, "f.csv"))
    assert [r[1][1:] for r in records[1:]] == rows


@given(st.text(alphabet="0123456789.-+eE_ naif", max_size=8))
def test_double_parsing_takes_exactly_the_documented_number_form(text: str) -> None:
    # The fast path (float() and a character check) against the plain regular expression.
    from wattbridge_plugins.common.energydata_csv import DOUBLE_RE

    expected = float(text) if DOUBLE_RE.fullmatch(text) else None
    if expected is not None and math.isinf(expected):
        expected = None  # too large for a double: refused
    try:
        got: float | None = parse_value(text, "double")  # type: ignore[assignment]
    except ValueError:
        got = None
    assert got == expected


@given(st.integers(min_value=-62135596800000, max_value=253402300799999))
def test_timestamps_round_trip(epoch_ms: int) -> None:
    assert parse_timestamp(format_ms(epoch_ms)) == epoch_ms


@given(
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 12, 31)),
    st.integers(min_value=1, max_value=6),
)
def test_one_to_six_fractional_digits_read_down_to_the_millisecond(
    moment: datetime, digits: int
) -> None:
    # As the platform's own client writes them (strftime %f), cut to `digits`.
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[: 20 + digits] + "Z"
    micros = int(f"{moment.microsecond:06d}"[:digits].ljust(6, "0"))
    expected = to_ms(moment.replace(microsecond=micros, tzinfo=UTC))
    assert parse_timestamp(text) == expected
    assert format_ms(expected) == text[:19] + f".{micros // 1000:03d}Z"  # written .SSSZ


def _moment_us(text: str) -> int | str:
    """What parse_moment makes of ``text``, as microseconds, or its refusal."""
    try:
        return (parse_moment(text) - EPOCH) // timedelta(microseconds=1)
    except ValueError as exc:
        return f"refused: {exc}"


def _reader_us(reader: StampReader, text: str) -> int | str:
    try:
        return reader.epoch_us(text)
    except ValueError as exc:
        return f"refused: {exc}"


# The platform's form, around one day so that the reader's cached dates are hit, then
# changed in one place or two: a digit, a separator, a digit of another script, a
# character more or less; and texts of other forms. One reader reads them all in order.
_TIMES_OF_DAY = ["24:00:00.000", "23:59:60.000", "12:60:00.000", "00:00:00.000", "23:59:59.999"]
_edits = st.tuples(
    st.integers(min_value=0, max_value=25),
    st.sampled_from(
        ["", "0", "1", "2", "3", "5", "6", "9", "\u0663", ":", ".", "Z", "T", " ", "+"]
    ),
    st.booleans(),
)


@st.composite
def _timestamp_texts(draw: st.DrawFn) -> list[str]:
    base = draw(
        st.integers(
            min_value=-62135596800000 + 2 * 86_400_000, max_value=253402300799999 - 2 * 86_400_000
        )
    )
    texts = []
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        text = format_ms(base + draw(st.integers(min_value=-86_400_000, max_value=86_400_000)))
        text = draw(st.sampled_from([text, f"{text[:11]}{draw(st.sampled_from(_TIMES_OF_DAY))}Z",
            text[:19] + "Z", text[:-1] + "+01:00", text[:-1] + "1Z"]))  # fmt: skip
        for position, piece, insert in draw(st.lists(_edits, max_size=2)):
            text = text[:position] + piece + text[position + (0 if insert else 1) :]
        texts.append(text)
    return texts


@given(_timestamp_texts())
def test_the_stamp_reader_reads_and_refuses_exactly_as_parse_moment(texts: list[str]) -> None:
    reader = StampReader()
    for text in [*texts, *texts]:  # the second time, every date it accepted is cached
        assert _reader_us(reader, text) == _moment_us(text), text
