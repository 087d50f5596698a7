"""Reading validation: what enters is checked once, with messages that name the field."""

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge import InvalidReading, Reading
from wattbridge._readings import from_epoch_us, to_epoch_us, trusted_reading, trusted_readings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_aware_timestamp_is_converted_to_utc():
    cet = timezone(timedelta(hours=1))
    reading = Reading("s", datetime(2026, 1, 1, 1, 0, tzinfo=cet), 1.5)
    assert reading.timestamp == T0
    assert reading.timestamp.tzinfo is UTC


def test_naive_timestamp_is_refused_with_the_value_in_the_message():
    with pytest.raises(InvalidReading, match="2026-01-01T00:00:00 has no time zone"):
        Reading("s", datetime(2026, 1, 1), 1)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_refused(value):
    with pytest.raises(InvalidReading, match="not a finite number"):
        Reading("s", T0, value)


@pytest.mark.parametrize("value", [None, b"x", [1], {"a": 1}, 1j])
def test_other_value_types_are_refused(value):
    with pytest.raises(InvalidReading, match="value must be an int, a float or a str"):
        Reading("s", T0, value)


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 10**30])
def test_integers_beyond_64_bits_are_refused(value):
    with pytest.raises(InvalidReading, match="does not fit in a 64-bit integer"):
        Reading("s", T0, value)


def test_bool_becomes_int():
    assert Reading("s", T0, True).value == 1
    assert type(Reading("s", T0, False).value) is int


@pytest.mark.parametrize("stream", ["", "   ", None, 5])
def test_stream_must_be_a_non_empty_string(stream):
    with pytest.raises(InvalidReading, match="stream must be a non-empty string"):
        Reading(stream, T0, 1)


@pytest.mark.parametrize("field", ["stream", "value", "unit", "source"])
@pytest.mark.parametrize("text", ["\ud800", "ok\udfff", "kWh\ud83d"])
def test_a_string_with_a_lone_surrogate_is_refused_naming_the_field(field, text):
    # json.loads('"\\ud800"') gives such a string; SQLite cannot store it (issue 14).
    keys = {"stream": "s", "timestamp": T0, "value": 1, field: text}
    with pytest.raises(InvalidReading, match=f"{field} holds a lone surrogate .* at position"):
        Reading(**keys)


def test_text_beyond_ascii_with_a_utf8_form_is_taken():
    reading = Reading("måler/forbrug", T0, "tændt ⚡ 😀", unit="m³", source="kælder")
    assert reading.value == "tændt ⚡ 😀"


@given(st.text(alphabet=st.characters(codec=None, categories=["Cs", "Lu", "Ll", "Nd"])))
def test_every_accepted_string_value_can_be_encoded(text):
    try:
        reading = Reading("s", T0, text)
    except InvalidReading:
        with pytest.raises(UnicodeEncodeError):
            text.encode("utf-8")
    else:
        assert reading.value.encode("utf-8").decode("utf-8") == text


def test_reading_is_frozen_and_slotted():
    reading = Reading("s", T0, 1)
    with pytest.raises(AttributeError):
        reading.value = 2
    assert not hasattr(reading, "__dict__")


values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
aware = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@given(
    stream=st.text(min_size=1).filter(str.strip),
    timestamp=aware,
    value=values,
    unit=st.text(),
    source=st.text(),
)
def test_dict_round_trip(stream, timestamp, value, unit, source):
    reading = Reading(stream, timestamp, value, unit, source)
    assert Reading.from_dict(reading.to_dict()) == reading


@given(timestamp=aware)
def test_epoch_microseconds_are_exact(timestamp):
    assert from_epoch_us(to_epoch_us(timestamp)) == timestamp


@given(
    st.dictionaries(
        st.text(max_size=12),
        st.one_of(st.none(), st.integers(), st.floats(), st.text(), st.booleans()),
    )
)
def test_from_dict_never_fails_with_anything_but_invalid_reading(data):
    try:
        Reading.from_dict(data)
    except InvalidReading:
        pass


@given(
    st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.text(),
        st.lists(st.integers()),
        st.datetimes(),
        values,
    )
)
def test_constructor_refuses_bad_input_only_with_invalid_reading(anything):
    for kwargs in (
        {"stream": anything, "timestamp": T0, "value": 1},
        {"stream": "s", "timestamp": anything, "value": 1},
        {"stream": "s", "timestamp": T0, "value": anything},
    ):
        try:
            reading = Reading(**kwargs)
        except InvalidReading:
            continue
        assert reading.timestamp.tzinfo is UTC
        assert not (isinstance(reading.value, float) and not math.isfinite(reading.value))


@given(
    timestamp=st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2250, 1, 1), timezones=st.just(UTC)
    )
)
def test_trusted_reading_equals_the_validated_one(timestamp):
    reading = Reading("a", timestamp, 2.5, "kWh", "src")
    assert trusted_reading("a", to_epoch_us(timestamp), 2.5, "kWh", "src") == reading


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2250, 1, 1), timezones=st.just(UTC)
        ),
        max_size=20,
    ).map(lambda instants: [t for t in instants for _ in range(3)][:-1])
)
def test_trusted_readings_in_runs_of_one_instant_keep_each_their_own(timestamps):
    # trusted_reading shares the datetime of a run of equal instants: each reading
    # must still get its own instant, whatever the run before it held.
    rebuilt = [trusted_reading("a", to_epoch_us(t), 1, "", "") for t in timestamps]
    assert [r.timestamp for r in rebuilt] == timestamps


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "ä/c"]),
            # Runs of one instant, as a file's row gives, and instants of their own.
            st.one_of(st.sampled_from([0, 1_767_225_600_000_000]), st.integers(-(2**40), 2**50)),
            st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()),
            st.sampled_from(["", "kWh"]),
            st.sampled_from(["", "src"]),
        ),
        max_size=30,
    )
)
def test_trusted_readings_are_trusted_reading_a_position(
    rows: list[tuple[str, int, object, str, str]],
) -> None:
    columns = [list(column) for column in zip(*rows, strict=True)] or [[]] * 5
    assert trusted_readings(*columns) == [trusted_reading(*row) for row in rows]
