"""Whatever the platform answers, every reading sent ends up in exactly one place:
stored (ok), retried, or dead-lettered; or, on a refused token, the sender stops."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge import Halted, Reading, Secret, Settled
from wattbridge._sinks import SinkContext
from wattbridge_plugins.sinks.energinet.client import Answer
from wattbridge_plugins.sinks.energinet.config import EnerginetConfig, SenderProfile
from wattbridge_plugins.sinks.energinet.payload import TimeFormat, pack
from wattbridge_plugins.sinks.energinet.sink import EnerginetSink

METERS = {"a": "A", "b": "B", "c": "C"}
NOW = datetime(2026, 11, 21, tzinfo=UTC)


class MemoryState:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.data.get(key)

    def set(self, key: str, value: str | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = value


SINK = EnerginetSink(
    EnerginetConfig(
        senders={"p": SenderProfile(Secret("token-for-p"), METERS)},
        url="http://127.0.0.1:9/apiImport/data",
    ),
    SinkContext("e", Path("."), logging.getLogger("test.answers"), MemoryState()),
)

statuses = st.sampled_from([200, 201, 204, 400, 403, 404, 409, 422, 429, 500, 503, 302, 0])
meter_answers = st.lists(
    st.fixed_dictionaries(
        {"meterID": st.sampled_from(["A", "B", "C", "X"]), "status": statuses},
        optional={"number_of_values": st.integers(0, 5), "message": st.text(max_size=10)},
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(
    streams=st.lists(st.sampled_from(["a", "b", "c", "zz"]), min_size=1, max_size=12),
    http_status=st.sampled_from([200, 201, 400, 401, 403, 404, 413, 429, 500, 502, 418]),
    answer=st.one_of(meter_answers, st.just("not json")),
)
def test_every_sent_reading_is_accounted_for_once(streams, http_status, answer):
    readings = [Reading(s, NOW - timedelta(hours=n), float(n)) for n, s in enumerate(streams)]
    packed = pack(
        readings,
        METERS.get,
        limit=10_000,
        time_format=TimeFormat(),
        oldest=NOW - timedelta(days=365),
    )
    body = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
    result = SINK._result("p", packed, Answer(http_status, body), NOW, NOW + timedelta(minutes=10))
    if http_status in (401, 403, 404):
        assert isinstance(result, Halted)  # a halt names no reading: it has no fields for one
        return
    assert isinstance(result, Settled)
    sent = set(packed.sent)
    ok, retry, rejected = set(result.ok), set(result.retry), set(result.rejected)
    assert not (ok & retry) and not (ok & rejected) and not (retry & rejected)
    assert ok | retry | rejected == sent | set(packed.rejected)
    if retry:
        assert result.not_before is not None and result.not_before >= NOW + timedelta(minutes=10)
    if http_status not in range(200, 300):
        assert not ok  # nothing counts as stored unless the platform said so per meter
