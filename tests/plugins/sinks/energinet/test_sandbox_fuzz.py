"""The sandbox's request parsing under any body: a documented answer every time, and
no request changes how a later, good one is answered."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge_plugins.sinks.energinet.sandbox.server import EnerginetSandbox

STAMP = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:00")
GOOD = json.dumps([{"meterID": "7777777777", "values": [[STAMP, 1.5]]}]).encode()

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.booleans(),
    st.text(max_size=5),
    st.none(),
)
stamps = st.one_of(
    st.just(STAMP),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.text(max_size=20),
)
pairs = st.one_of(st.tuples(stamps, numbers).map(list), st.lists(numbers, max_size=3))
meters = st.fixed_dictionaries(
    {
        "meterID": st.sampled_from(["7777777777", "6666666666", "x"]) | st.text(max_size=5),
        "values": st.lists(pairs, max_size=4),
    }
)
json_bodies = st.one_of(
    st.lists(meters, max_size=4),
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(max_size=5), inner),
    ),
).map(lambda data: json.dumps(data).encode())  # json.dumps writes NaN and Infinity
bodies = json_bodies | st.binary(max_size=200)


def _answer(sandbox: EnerginetSandbox, body: bytes) -> tuple[int, Any]:
    token = sandbox.tokens["sender-1"]
    return sandbox.handle_import(token, len(body), lambda: body)


def test_any_body_gets_a_documented_answer_and_poisons_nothing(tmp_path: Path) -> None:
    # One sandbox for every example: whatever one body did, the next must not see it.
    sandbox = EnerginetSandbox("127.0.0.1", 0, tmp_path)
    sandbox.window = 0

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=bodies)
    def check(body: bytes) -> None:
        status, answer = _answer(sandbox, body)
        assert status in (200, 400)
        if status == 400:
            assert isinstance(answer["error"], str)
        else:
            for verdict in answer:
                assert verdict["status"] in (201, 400, 404)
                assert isinstance(verdict["meterID"], str)
                if verdict["status"] != 201:
                    assert verdict["number_of_values"] == 0 and verdict["message"]
        for values in sandbox.values().values():
            assert all(isinstance(v, float) and math.isfinite(v) for v in values.values())
        assert _answer(sandbox, GOOD) == (
            200,
            [{"meterID": "7777777777", "number_of_values": 1, "status": 201}],
        )
        assert sandbox.values("7777777777")["7777777777"][STAMP + ":00Z"] == 1.5

    try:
        check()
    finally:
        sandbox.stop()
