"""The energydata-batch sink against the sandbox over real HTTP: what it writes, what it
refuses, and how it meets the platform's failures."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge import InProgress, Reading, Settled
from wattbridge_plugins.common.energydata_csv import (
    iter_records,
    parse_timestamp,
    parse_value,
    to_ms,
)
from wattbridge_plugins.sinks.energydata.client import Client

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def stored_of(sandbox: Any, stream: str) -> dict[int, Any]:
    ds = sandbox.store.resolve(stream).id
    return {ts: v for (d, ts), v in sandbox.stored().items() if d == ds}


def test_readings_of_all_types_reach_the_platform(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    sink = edk_sink()
    readings = [
        Reading("my/topic", at(0), 1.25),
        Reading("my/topic", at(1), -1.33e-16),
        Reading("119221", at(0), 7),
        Reading("119221", at(2), 8.0),  # a whole float fits an integer datastream
        Reading("demo/status", at(0), 'a;"b"\r\nc'),
        Reading("demo/status", at(1), ""),
        Reading("house/power_w", at(1), 3),
    ]
    assert sink.deliver(readings) == []
    assert stored_of(sandbox, "my/topic") == {to_ms(at(0)): 1.25, to_ms(at(1)): -1.33e-16}
    assert stored_of(sandbox, "119221") == {to_ms(at(0)): 7, to_ms(at(2)): 8}
    assert stored_of(sandbox, "demo/status") == {to_ms(at(0)): 'a;"b"\r\nc', to_ms(at(1)): ""}
    assert stored_of(sandbox, "house/power_w") == {to_ms(at(1)): 3.0}
    # Numbers share one import; the string datastream has its own, so no row of it is
    # ever empty (an empty field would import an empty string).
    names = sorted(i["name"] for i in sandbox.imports())
    assert len(names) == 2 and all(i["status"] == "done" for i in sandbox.imports())


def test_values_that_do_not_fit_are_dead_lettered_alone(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    sink = edk_sink()
    dead = sink.deliver(
        [
            Reading("my/topic", at(0), 1.0),
            Reading("119221", at(0), 2.5),
            Reading("my/topic", at(1), "text"),
            Reading("unknown/stream", at(0), 1),
            Reading("demo/status", at(2), 5),
        ]
    )
    reasons = sorted(d.reason for d in dead)
    assert len(reasons) == 4
    assert "not a whole number" in reasons[1] or "not a whole number" in " ".join(reasons)
    assert any("not in this sink's datastreams" in r for r in reasons)
    assert stored_of(sandbox, "my/topic") == {to_ms(at(0)): 1.0}


def test_later_reading_of_a_timestamp_wins_and_rows_are_sorted(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    sink = edk_sink()
    dead = sink.deliver(
        [Reading("my/topic", at(5), 5.0), Reading("my/topic", at(1), 1.0),
         Reading("my/topic", at(5), 6.0), Reading("my/topic", at(1.0004), 9.0)]
    )  # fmt: skip
    assert dead == []
    # 1.0004 s is the same millisecond as 1 s on the platform: the later reading wins.
    assert stored_of(sandbox, "my/topic") == {to_ms(at(1)): 9.0, to_ms(at(5)): 6.0}


def test_a_backlog_becomes_several_imports(edk_sink: Callable[..., Any], sandbox: Any) -> None:
    sink = edk_sink(import_size=40)
    readings = [Reading("my/topic", at(i), float(i)) for i in range(100)]
    assert sink.deliver(readings) == []
    assert len(sandbox.imports()) == 3
    assert len(stored_of(sandbox, "my/topic")) == 100


def test_readings_queued_during_an_import_wait_for_the_next(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    sink = edk_sink()
    sandbox.faults.hold("validating")
    sink.queue([Reading("my/topic", at(i), float(i)) for i in range(10)])
    sink.flush()
    assert sandbox.imports()[0]["status"] == "validating"
    sink.queue([Reading("my/topic", at(100 + i), float(i)) for i in range(5)])
    sink.flush()
    sandbox.faults.release("validating")
    assert sink.deliver([]) == []
    imports = sandbox.imports()
    assert [i["validated_lines"] for i in imports] == [10, 5]
    assert len(stored_of(sandbox, "my/topic")) == 15


def test_a_wrong_token_halts_sending(
    edk_sink: Callable[..., Any], sandbox: Any, caplog: Any
) -> None:
    sink = edk_sink(token="wrong-token-1234")
    sink.queue([Reading("my/topic", at(0), 1.0)])
    with caplog.at_level(logging.DEBUG):
        sink.flush()
    status = sink.outbox.status()
    assert status.halted and "401" in status.halted and "Unauthenticated" in status.halted
    assert status.depth == 1
    assert "wrong-token-1234" not in caplog.text and "wrong-token-1234" not in status.halted


def test_a_token_without_write_rights_halts(edk_sink: Callable[..., Any], sandbox: Any) -> None:
    sink = edk_sink(token="read")
    sink.queue([Reading("my/topic", at(0), 1.0)])
    sink.flush()
    halted = sink.outbox.status().halted
    assert halted and "403" in halted and sandbox.tokens["read"] not in halted


def test_no_write_right_for_one_datastream_dead_letters_only_its_readings(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    sink = edk_sink(token="limited")
    dead = sink.deliver([Reading("119221", at(0), 1), Reading("my/topic", at(0), 2.0)])
    assert [d.reading.stream for d in dead] == ["119221"]
    assert "no write access to datastream '119221'" in dead[0].reason
    assert stored_of(sandbox, "my/topic") == {to_ms(at(0)): 2.0}


def test_platform_validation_errors_dead_letter_the_lines_they_name(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    # The platform says 119221 holds integers; this config (wrongly) says double.
    sink = edk_sink(datastreams={"119221": "double"})
    dead = sink.deliver([Reading("119221", at(i), v) for i, v in enumerate([1, 2.5, 3, 4.5])])
    assert sorted(d.reading.value for d in dead) == [2.5, 4.5]
    assert all("line" in d.reason and "not an integer" in d.reason for d in dead)
    assert stored_of(sandbox, "119221") == {to_ms(at(0)): 1, to_ms(at(2)): 3}


@pytest.mark.parametrize(
    ("fault", "where"),
    [("fail", "/api/v1/import$"), ("fail", "/upload_url"), ("fail", "/s3/"),
     ("fail", "/validate"), ("fail", "/ingest"), ("fail", "/import/\\d+$"),
     ("hang", "/validate"), ("hang", "/s3/"), ("hang", "/import/\\d+$")],
)  # fmt: skip
def test_server_errors_and_hung_requests_are_retried_without_a_second_import(
    edk_sink: Callable[..., Any], sandbox: Any, fault: str, where: str
) -> None:
    sink = edk_sink(timeout="300ms")
    if fault == "fail":
        sandbox.faults.fail(count=2, status=500, path=where)
    else:
        sandbox.faults.hang(seconds=2, count=1, path=where, after=where != "/s3/")
    assert sink.deliver([Reading("my/topic", at(i), float(i)) for i in range(3)]) == []
    assert len(stored_of(sandbox, "my/topic")) == 3
    with_data = [i for i in sandbox.imports() if i["uploaded"]]
    assert len(with_data) == 1 and with_data[0]["status"] == "done"


def test_an_expired_upload_url_is_renewed(edk_sink: Callable[..., Any], sandbox: Any) -> None:
    sink = edk_sink()
    sandbox.expire_next_urls(1)
    assert sink.deliver([Reading("my/topic", at(0), 1.0)]) == []
    assert sandbox.arrived("GET", "/upload_url") == 2
    assert len(sandbox.imports()) == 1


def test_a_vanished_import_is_started_again(edk_sink: Callable[..., Any], sandbox: Any) -> None:
    sink = edk_sink()
    sandbox.faults.fail(count=1, status=404, path="/upload_url")
    assert sink.deliver([Reading("my/topic", at(0), 1.0)]) == []
    assert stored_of(sandbox, "my/topic") == {to_ms(at(0)): 1.0}


def test_tls_is_verified_by_default(sandbox: Any) -> None:
    from wattbridge_plugins.sinks.energydata.batch.config import EnergyDataBatchConfig

    config = EnergyDataBatchConfig(token=__import__("wattbridge").Secret("x" * 8),
                                   datastreams={"a": "double"})  # fmt: skip
    assert config.requests_verify() is True and config.url.startswith("https://")


# -- what goes in comes back -------------------------------------------------------

STREAM_VALUES = {
    "my/topic": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "119221": st.integers(min_value=-(2**63), max_value=2**63 - 1),
    "demo/status": st.text(st.characters(blacklist_categories=("Cs",)), max_size=12),
}


@st.composite
def reading_sets(draw: Any) -> list[Reading]:
    count = draw(st.integers(min_value=1, max_value=12))
    readings = []
    for _ in range(count):
        stream = draw(st.sampled_from(sorted(STREAM_VALUES)))
        ms = draw(st.integers(min_value=0, max_value=4_000_000_000_000))
        value = draw(STREAM_VALUES[stream])
        readings.append(Reading(stream, datetime.fromtimestamp(ms / 1000, UTC)
                                .replace(microsecond=(ms % 1000) * 1000), value))  # fmt: skip
    return readings


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(readings=reading_sets())
def test_any_readings_written_come_back_equal_through_the_fetch_api(
    edk_sink: Callable[..., Any], sandbox: Any, readings: list[Reading]
) -> None:
    sink = edk_sink()
    assert sink.deliver(readings) == []
    expected = {(r.stream, to_ms(r.timestamp)): r.value for r in readings}
    client = Client(sandbox.url, __import__("wattbridge").Secret(sandbox.tokens["read"]))
    names = sorted(STREAM_VALUES)
    response = client.fetch(names, "1970-01-01T00:00:00.000Z", "2200-01-01T00:00:00.000Z")
    records = list(iter_records(response.text.splitlines(keepends=True), "fetch"))
    header = records[0][1][1:]
    types = {"my/topic": "double", "119221": "integer", "demo/status": "string"}
    got: dict[tuple[str, int], Any] = {}
    for _line, fields, quoted in records[1:]:
        ms = parse_timestamp(fields[0])
        for name, text, was_quoted in zip(header, fields[1:], quoted[1:], strict=True):
            if text == "" and not was_quoted:
                continue
            got[(name, ms)] = parse_value(text, types[name])  # type: ignore[arg-type]
    # Earlier examples share the sandbox: compare only this example's keys, and that
    # each came back exactly (a second value for a key overwrites the first).
    assert {k: got[k] for k in expected} == expected
    client.close()


def test_a_result_the_core_did_not_apply_is_given_again_not_imported_again(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    harness = edk_sink()
    harness.queue([Reading("my/topic", at(i), float(i)) for i in range(3)])
    batch = harness.outbox.take(100)
    result = harness.sink.send(batch)
    while isinstance(result, InProgress):
        time.sleep(0.02)
        result = harness.sink.send(batch)
    assert isinstance(result, Settled) and result.ok == frozenset(range(3))
    # As if the process died before the core acknowledged: the same batch comes again.
    again = type(harness.sink)(harness.sink.config, harness.sink.context).send(batch)
    assert again == result
    assert len(sandbox.imports()) == 1


def test_preview_shows_the_files_that_send_uploads_and_what_it_refuses(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    harness = edk_sink()
    harness.queue(
        [
            Reading("my/topic", at(0), 1.25),
            Reading("demo/status", at(0), 'a;"b"'),
            Reading("119221", at(1), 4.0),
            Reading("unknown/stream", at(1), 1),
            Reading("my/topic", at(1), -2.5),
        ]
    )
    batch = harness.outbox.take(100)  # as the core hands it over: columns
    shown = list(harness.sink.preview(batch))
    files = sorted(text for what, text in shown if what.startswith("import "))
    refused = [(what, why) for what, why in shown if what.startswith("not imported")]
    assert (
        refused == [("not imported: unknown/stream", refused[0][1])]
        and "not in this sink's datastreams" in refused[0][1]
    )
    assert len(harness.deliver([])) == 1  # the unknown datastream, dead-lettered
    # Read as preview reads its files (line ends as text: the files' own are CRLF).
    uploads = sorted(
        path.read_text(encoding="utf-8") for path in (sandbox.state_dir / "uploads").glob("*")
    )
    assert files == uploads and len(files) == 2  # numbers, and the string datastream's own
