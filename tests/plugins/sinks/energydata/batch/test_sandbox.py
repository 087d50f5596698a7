"""The sandbox applies every rule of the platform's batch-import and fetch documentation.

These tests talk to it with a plain HTTP client written from the documentation, not
with the sink's client, so they check the sandbox on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge.testing import wait_until

T0 = "2021-03-10T20:24:30.139Z"
T1 = "2021-03-10T20:24:31.144Z"
T2 = "2021-03-10T20:24:32.161Z"
T3 = "2021-03-10T20:24:33.186Z"
T4 = "2021-03-10T20:24:34.201Z"
MS0 = 1615407870139


def run_import(api: Any, body: str | bytes, errors_limit: int = 0) -> dict[str, Any]:
    """Create, upload, validate and (if ready) ingest; the final record."""
    created = api.create()
    assert created.status_code == 201, created.text
    import_id = created.json()["id"]
    assert created.json()["status"] == "stored"
    raw = body.encode() if isinstance(body, str) else body
    assert api.upload(import_id, raw).status_code == 200
    validating = api.put(import_id, "validate", errors_limit=errors_limit)
    assert validating.json()["status"] == "validating"
    record = wait_until(
        lambda: (r := api.status(import_id))["status"] != "validating" and r, message="validated"
    )
    if record["status"] != "ready":
        return record
    assert api.put(import_id, "ingest").json()["status"] == "ingesting"
    return wait_until(
        lambda: (r := api.status(import_id))["status"] != "ingesting" and r, message="ingested"
    )


def test_the_documentation_example_file_imports(api: Callable[..., Any], sandbox: Any) -> None:
    # The platform's own example: 117217 string, my/topic double, 119221 integer.
    example = (
        f";117217;my/topic;119221\n{T0};a_string;23.4121;-10\n"
        f'{T1};"another string";999888777.121;0\n{T2};a third string;-1.33e-16;45\n'
        f"{T3};;54.1;11\n{T4};a-fourth-string;;45\n"
    )
    record = run_import(api(), example)
    assert record["status"] == "done", record
    assert record["validated_lines"] == 5 and record["ingested_lines"] == 5
    assert record["min_ts"] == T0 and record["max_ts"] == T4
    assert sorted(record["datastreams"]) == [117217, 117218, 119221]
    stored = sandbox.stored()
    assert stored[(117217, MS0)] == "a_string"
    assert stored[(117217, MS0 + 3047)] == ""  # empty field: an empty string
    assert (117218, MS0 + 4062) not in stored  # empty field: no value for a double
    assert stored[(117218, MS0 + 2022)] == -1.33e-16
    assert stored[(119221, MS0)] == -10


def test_quoting_of_delimiters_quotes_and_newlines(api: Callable[..., Any], sandbox: Any) -> None:
    body = f';demo/status\r\n{T0};"a;b"\r\n{T1};"say ""hi"""\r\n{T2};"two\r\nlines"\r\n'
    assert run_import(api(), body)["status"] == "done"
    stored = sandbox.stored()
    assert [stored[(117217, MS0 + d)] for d in (0, 1005, 2022)] == [
        "a;b", 'say "hi"', "two\r\nlines",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "line", "words"),
    [
        (f";119221\n{T0};1.5\n", 2, "not an integer"),
        (f";my/topic\n{T0};abc\n", 2, "not a number"),
        (f";my/topic\n{T1};1\n{T0};2\n", 3, "strictly increasing"),
        (f";my/topic\n{T0};1\n{T0};2\n", 3, "strictly increasing"),
        (";my/topic\n2021-03-10T20:24:30.139;1\n", 2, "no time zone"),
        (";my/topic\n2021-03-10 20:24:30;1\n", 2, "no time zone"),
        (f";my/topic;119221\n{T0};1\n", 2, "expected 3 fields"),
        (f';demo/status\n{T0};"a\\"b"\n', 2, "closing quote"),
        (f';demo/status\n{T0};a"b\n', 2, "quote inside an unquoted"),
        (";999999\n", 1, "unknown datastream"),
        ("my/topic\n", 1, "first field empty"),
        (";my/topic;117218\n", 1, "twice"),
        (b";demo/status\n" + T0.encode() + b";\xff\n", 2, "not UTF-8"),
    ],
)
def test_each_rule_fails_the_import_naming_the_line(
    api: Callable[..., Any], body: str | bytes, line: int, words: str
) -> None:
    record = run_import(api(), body)
    assert record["status"] == "failed"
    assert record["errors"][0]["line"] == line
    assert words in record["errors"][0]["message"]


def test_errors_limit_tolerates_that_many_bad_lines(api: Callable[..., Any], sandbox: Any) -> None:
    body = f";119221\n{T0};1\n{T1};x\n{T2};3\n"
    record = run_import(api(), body, errors_limit=1)
    assert record["status"] == "done" and record["errors"][0]["line"] == 3
    assert sorted(v for (ds, _), v in sandbox.stored().items() if ds == 119221) == [1, 3]


def test_a_second_value_overwrites_the_first(api: Callable[..., Any], sandbox: Any) -> None:
    run_import(api(), f";my/topic\n{T0};1.0\n")
    run_import(api(), f";117218\n{T0};2.0\n")
    assert sandbox.stored()[(117218, MS0)] == 2.0


def test_rights_and_tokens(api: Callable[..., Any], sandbox: Any) -> None:
    assert api("read").create().status_code == 403
    bad = api("write")
    bad.headers["Authorization"] = "Bearer nope"
    response = bad.create()
    assert response.status_code == 401 and response.json()["message"] == "Unauthenticated."
    record = run_import(api("limited"), f";119221;my/topic\n{T0};1;2\n")
    assert record["status"] == "failed"
    assert record["errors"][0] == {
        "line": 1, "datastream": "119221", "message": "no write access to datastream '119221'",
    }  # fmt: skip
    # Another user's import is not found.
    own = api("write").create().json()["id"]
    assert api("limited").put(own, "validate").status_code == 404


def test_upload_url_is_escaped_signed_and_expires(api: Callable[..., Any], sandbox: Any) -> None:
    client = api()
    import_id = client.create().json()["id"]
    raw = __import__("requests").get(
        f"{client.base}/import/{import_id}/upload_url", headers=client.headers, timeout=5
    )
    assert '"upload_url":"http:\\/\\/127.0.0.1' in raw.text  # slashes come escaped as \/
    url = raw.json()["upload_url"]
    put = __import__("requests").put
    assert put(url.replace("Signature=", "Signature=0"), data=b";a\n", timeout=5).status_code == 403
    with_token = put(url, data=b";a\n", headers=client.headers, timeout=5)
    assert with_token.status_code == 400  # a presigned URL takes no second credential
    sandbox.expire_next_urls(1)
    expired = client.upload(import_id, b";my/topic\n")
    assert expired.status_code == 403 and "expired" in expired.text
    assert client.put(import_id, "validate").status_code == 422  # nothing uploaded yet
    assert client.upload(import_id, b";my/topic\n").status_code == 200


def test_steps_out_of_order_conflict(api: Callable[..., Any], sandbox: Any) -> None:
    client = api()
    import_id = client.create().json()["id"]
    assert client.put(import_id, "ingest").status_code == 409
    record = run_import(client, f";my/topic\n{T0};1\n")
    assert client.put(record["id"], "validate").status_code == 409


def test_fetch_streams_csv_and_errors_are_json(api: Callable[..., Any], sandbox: Any) -> None:
    run_import(api(), f';my/topic;demo/status;119221\n{T0};1.5;;\n{T1};;x;3\n{T2};2.5;"";\n')
    client = api("read")
    response = client.fetch(ids="117218,demo/status,119221", **{"from": T0, "to": T2})
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    assert response.text.splitlines() == [
        ";117218;demo/status;119221",
        f'{T0};1.5;"";',  # 117217 is a string: an empty field imported an empty string
        f'{T1};;"x";3',
    ]
    latest = client.fetch(ids="117218,119221", latest="True")
    assert latest.text.splitlines() == [";117218;119221", f"{T1};;3", f"{T2};2.5;"]
    assert client.fetch(ids="117218").status_code == 422
    naive = client.fetch(ids="117218", **{"from": "2021-03-10T20:24:30", "to": T2})
    assert naive.status_code == 422 and "time zone" in naive.json()["message"]
    assert client.fetch(ids="424242", latest="True").status_code == 404
    assert api("none").fetch(ids="117218", latest="True").status_code == 403


def test_fault_injection_fails_and_hangs(api: Callable[..., Any], sandbox: Any) -> None:
    sandbox.faults.fail(count=1, status=503, method="POST")
    assert api().create().status_code == 503
    assert api().create().status_code == 201
    sandbox.faults.hang(seconds=0.5, method="POST")
    started = time.monotonic()
    assert api().create().status_code == 201
    assert time.monotonic() - started >= 0.5


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.binary(max_size=150)
    | st.text(alphabet=';"\r\n0123456789.-TZ:ab/my', max_size=150).map(
        lambda t: (";my/topic;117217\r\n" + t).encode()
    )
)
def test_validation_never_crashes_on_any_upload(sandbox: Any, tmp_path: Path, body: bytes) -> None:
    from wattbridge_plugins.sinks.energydata.sandbox import validation

    path = tmp_path / "upload.csv"
    path.write_bytes(body)
    info = sandbox.store.token_info(sandbox.tokens["write"])
    outcome = validation.validate(path, sandbox.store, info, errors_limit=5)
    assert all(isinstance(e["line"], int) and e["line"] >= 1 for e in outcome.errors)
    if outcome.ok:
        assert validation.ingest(path, sandbox.store, info, set()) == outcome.validated_lines
