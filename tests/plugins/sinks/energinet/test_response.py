"""The answer's parser: the documented shape read right, anything else a BadResponse."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge_plugins.sinks.energinet.client import BadResponse, MeterStatus, parse_statuses
from wattbridge_plugins.sinks.energinet.sink import meter_verdict

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
meter_like = st.fixed_dictionaries(
    {"meterID": st.one_of(st.text(), st.integers(), st.none()), "status": json_values},
    optional={"number_of_values": json_values, "message": json_values},
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(json_values, st.lists(meter_like, max_size=5), st.binary(max_size=50)))
def test_never_crashes_on_any_body(data):
    body = data if isinstance(data, bytes) else json.dumps(data).encode()
    try:
        statuses = parse_statuses(body)
    except BadResponse:
        return
    for meter, status in statuses.items():
        assert isinstance(meter, str) and isinstance(status.status, int)
        assert meter_verdict(status.status) in ("ok", "retry", "reject")


def test_documented_answer():
    body = b"""[{"meterID": "7777777777", "number_of_values": 2, "status": 201},
               {"meterID": 6666666666, "number_of_values": 0, "status": 404, "message": "no"}]"""
    assert parse_statuses(body) == {
        "7777777777": MeterStatus("7777777777", 201, 2, ""),
        "6666666666": MeterStatus("6666666666", 404, 0, "no"),
    }


def test_verdicts():
    assert [meter_verdict(s) for s in (200, 201, 400, 403, 404, 422, 429, 500, 503, 302)] == [
        "ok",
        "ok",
        "reject",
        "reject",
        "reject",
        "reject",
        "retry",
        "retry",
        "retry",
        "retry",
    ]
