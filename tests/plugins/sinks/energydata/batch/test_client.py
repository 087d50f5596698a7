"""The client's reading of the platform's answers: whatever comes back, it becomes a
record or a PlatformError with a reason, never another exception."""

from __future__ import annotations

import json
from typing import Any

import requests
from hypothesis import given
from hypothesis import strategies as st

from wattbridge import Secret
from wattbridge_plugins.sinks.energydata.client import Client, PlatformError, classify

SCALARS = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
BODIES = JSON.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=100)


def answer(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    """A requests Response as the transport would build it from the platform's bytes."""
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    response.encoding = "utf-8"
    return response


RETRY_AFTER = (
    st.text(max_size=12)
    | st.integers(min_value=0).map(str)
    | st.just("Wed, 21 Oct 2015 07:28:00 -0000")
)


@given(st.integers(min_value=400, max_value=599), BODIES, RETRY_AFTER)
def test_any_error_answer_becomes_a_platform_error(status: int, body: bytes, retry: str) -> None:
    error = classify(answer(status, body, {"Retry-After": retry}), "doing it")
    assert isinstance(error, PlatformError)
    assert str(error).startswith(f"doing it: HTTP {status}: ")
    assert error.kind in ("retry", "halt", "gone", "conflict", "expired", "invalid")
    assert error.not_before is None or error.not_before.tzinfo is not None


@given(BODIES)
def test_any_success_answer_is_a_record_or_a_retry(body: bytes) -> None:
    client = Client("http://127.0.0.1:9", Secret("a-token-for-tests"))
    try:
        record: Any = client._record(answer(200, body), "reading")
    except PlatformError as exc:
        assert exc.kind == "retry" and "a-token-for-tests" not in str(exc)
    else:
        assert isinstance(record["id"], int) and isinstance(record["status"], str)


def test_the_platforms_messages_are_kept() -> None:
    body = json.dumps(
        {
            "message": "The given data was invalid.",
            "errors": {"importname": ["The importname field is required."]},
        }
    )
    error = classify(answer(422, body.encode()), "creating an import")
    assert error.kind == "invalid"
    assert "The given data was invalid." in str(error) and "importname field" in str(error)
    assert classify(answer(401, b'{"message":"Unauthenticated."}'), "x").kind == "halt"
    expired = classify(answer(403, b"<Error>Request has expired</Error>"), "uploading")
    assert expired.kind == "expired"
    limited = classify(answer(429, b"{}", {"Retry-After": "30"}), "x")
    assert limited.kind == "retry" and limited.not_before is not None
