"""The NATS message format: what the sink writes the source reads back exactly, and
whatever else arrives on the stream (any publisher can write there) is either readings
or a DataError naming the message and the item, never another exception."""

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge import DataError, Reading
from wattbridge_plugins.common import nats_wire
from wattbridge_plugins.common.nats_keys import key_token, subject_token

WHERE = "WATTBRIDGE message 7 (wattbridge.site1.x)"

readings = st.builds(
    Reading,
    stream=st.text(min_size=1).filter(str.strip),
    timestamp=st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
    value=st.one_of(
        st.integers(min_value=-(2**53), max_value=2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(),
    ),
    unit=st.text(),
    source=st.text(),
)


@given(st.lists(readings, max_size=20))
def test_what_the_sink_writes_the_source_reads(batch):
    assert nats_wire.decode(nats_wire.encode(batch), WHERE) == batch


@given(st.binary())
def test_any_bytes_are_readings_or_a_data_error(body):
    try:
        nats_wire.decode(body, WHERE)
    except DataError as exc:
        assert str(exc).startswith(WHERE)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.lists(st.lists(json_values, min_size=0, max_size=6), max_size=5))
def test_any_json_rows_are_readings_or_a_data_error_naming_the_item(rows):
    body = json.dumps({"readings": rows}).encode()
    try:
        decoded = nats_wire.decode(body, WHERE)
    except DataError as exc:
        assert str(exc).startswith(f"{WHERE}, reading ")
    else:
        assert len(decoded) == len(rows)


@pytest.mark.parametrize(
    ("row", "says"),
    [
        (["s", 1.5, 1, "", ""], "epoch_us must be an integer"),
        (["s", 10**20, 1, "", ""], "outside the years"),
        (["", 0, 1, "", ""], "stream"),
        (["s", 0, float("nan"), "", ""], "NaN"),
        (["s", 0, True, "", ""], "value must be"),
        (["s", 0, 1, 5, ""], "unit must be a string"),
        (["s", 0, 1, ""], "expected [stream"),
    ],
)
def test_a_bad_item_is_named(row, says):
    body = json.dumps({"readings": [["ok", 0, 1, "", ""], row]}).encode()
    with pytest.raises(DataError, match=r"reading 1") as caught:
        nats_wire.decode(body, WHERE)
    assert says.lower() in str(caught.value).lower()


def test_the_message_id_is_the_content():
    body = nats_wire.encode([Reading("s", datetime(2026, 1, 1, tzinfo=UTC), 1)])
    same = nats_wire.message_id("a.b", body)
    assert same == nats_wire.message_id("a.b", bytes(body))
    assert same != nats_wire.message_id("a.c", body)
    assert same != nats_wire.message_id("a.b", body + b" ")


@given(st.text())
def test_a_subject_token_never_splits_or_matches(text):
    token = subject_token(text)
    assert token and "." not in token and "*" not in token and ">" not in token
    assert not any(c.isspace() for c in token)


@given(st.text())
def test_a_key_token_is_a_valid_kv_key_part(text):
    token = key_token(text)
    assert token and all((c.isalnum() and c.isascii()) or c in "-_=" for c in token)
