"""The sandbox on its own, over real HTTP: it must enforce what the platform documents."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import requests

URL_TIMEOUT = 10


def post(sandbox, token, body):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return requests.post(sandbox.url, data=data, headers=headers, timeout=URL_TIMEOUT)


def recent(hours=1):
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:00")


def test_stores_values_and_answers_per_meter(sandbox):
    token = sandbox.tokens["sender-1"]
    stamp = recent()
    answer = post(
        sandbox,
        token,
        [
            {"meterID": "7777777777", "values": [[stamp, 45], [stamp, 46.5]]},
            {"meterID": "nope", "values": [[stamp, 1.0]]},
            {"meterID": "6666666666", "values": [[stamp, "x"]]},
        ],
    )
    assert answer.status_code == 200
    statuses = [(m["meterID"], m["status"]) for m in answer.json()]
    assert statuses == [("7777777777", 201), ("nope", 404), ("6666666666", 400)]
    stored = requests.get(sandbox.base_url + "/_sandbox/values", timeout=URL_TIMEOUT).json()
    assert stored == {"7777777777": {stamp + ":00Z": 46.5}}  # one value per meter and time
    assert sandbox.values("6666666666") == {}


def test_tokens_window_and_clock(sandbox):
    one, two = sandbox.tokens["sender-1"], sandbox.tokens["sender-2"]
    assert post(sandbox, "wrong", []).status_code == 401
    assert post(sandbox, one, []).status_code == 200
    second = post(sandbox, one, [])
    assert second.status_code == 429 and 0 < int(second.headers["Retry-After"]) <= 600
    assert post(sandbox, two, []).status_code == 200  # each sender has its own window
    sandbox.clock.advance(599)
    assert post(sandbox, one, []).status_code == 429  # a 429 does not move the window
    moved = requests.post(
        sandbox.base_url + "/_sandbox/clock", json={"advance": 1.5}, timeout=URL_TIMEOUT
    )
    assert moved.ok
    assert post(sandbox, one, []).status_code == 200
    log = sandbox.requests()
    assert [(r.sender, r.status) for r in log] == [
        (None, 401),
        ("sender-1", 200),
        ("sender-1", 429),
        ("sender-2", 200),
        ("sender-1", 429),
        ("sender-1", 200),
    ]
    assert log[-1].at - log[1].at >= 600


def test_payload_bound_is_500000_bytes(sandbox):
    token = sandbox.tokens["sender-1"]
    entry = f'["{recent()}",1.0]'
    head, tail = b'[{"meterID":"7777777777","values":[', b"]}]"
    count = (500_000 - len(head) - len(tail) + 1) // (len(entry) + 1)
    body = head + ",".join([entry] * count).encode() + tail
    body += b" " * (500_000 - len(body))
    assert len(body) == 500_000
    assert post(sandbox, token, body).status_code == 200
    sandbox.clock.advance(600)
    assert post(sandbox, token, body + b" ").status_code == 413


def test_old_timestamps_bad_bodies_and_faults(sandbox):
    token = sandbox.tokens["sender-1"]
    old = (datetime.now(UTC) - timedelta(days=5 * 366)).strftime("%Y-%m-%dT%H:%M")
    answer = post(sandbox, token, [{"meterID": "7777777777", "values": [[old, 1.0]]}])
    assert answer.json()[0]["status"] == 400
    assert "older than five years" in answer.json()[0]["message"]
    sandbox.clock.advance(600)
    assert post(sandbox, token, b"{not json").status_code == 400
    sandbox.clock.advance(600)
    assert post(sandbox, token, {"meterID": "x"}).status_code == 400
    requests.post(
        sandbox.base_url + "/_sandbox/faults", json={"count": 1, "mode": "500"}, timeout=5
    ).raise_for_status()
    sandbox.clock.advance(600)
    assert post(sandbox, token, []).status_code == 500
    sandbox.fail_next(1, "hang", seconds=0.3)
    sandbox.clock.advance(600)
    assert post(sandbox, token, []).status_code == 500
    assert sandbox.values() == {}


def test_numbers_json_has_not_are_refused_per_meter_and_poison_nothing(sandbox):
    # Python's json.dumps writes NaN and Infinity by default; 1e400 and 10**400 parse,
    # but are no double. Each is that meter's 400, naming the value; the others store.
    token = sandbox.tokens["sender-1"]
    stamp = recent()
    sandbox.add_meters(["m-nan", "m-inf", "m-big", "m-huge"])
    body = (
        f'[{{"meterID": "m-nan", "values": [["{stamp}", NaN]]}},'
        f' {{"meterID": "m-inf", "values": [["{stamp}", -Infinity]]}},'
        f' {{"meterID": "m-big", "values": [["{stamp}", 1e400]]}},'
        f' {{"meterID": "m-huge", "values": [["{stamp}", 1{"0" * 400}]]}},'
        f' {{"meterID": "7777777777", "values": [["{stamp}", 45]]}}]'
    )
    answer = post(sandbox, token, body.encode())
    assert answer.status_code == 200
    verdicts = {m["meterID"]: (m["status"], m.get("message", "")) for m in answer.json()}
    assert verdicts["m-nan"] == (400, "value 0: NaN is not a floating-point number")
    assert verdicts["m-inf"] == (400, "value 0: -Infinity is not a floating-point number")
    assert verdicts["m-big"] == (400, "value 0: Infinity is not a floating-point number")
    assert (
        verdicts["m-huge"][0] == 400 and "is not a floating-point number" in verdicts["m-huge"][1]
    )
    assert verdicts["7777777777"] == (201, "")
    # The next request, of another sender, is answered and stored as ever.
    later = post(
        sandbox, sandbox.tokens["sender-2"], [{"meterID": "6666666666", "values": [[stamp, 2.5]]}]
    )
    assert later.status_code == 200 and later.json()[0]["status"] == 201
    assert sandbox.values() == {
        "7777777777": {stamp + ":00Z": 45.0},
        "6666666666": {stamp + ":00Z": 2.5},
    }


def test_dates_at_the_calendars_ends_are_refused_not_crashed_on(sandbox):
    token = sandbox.tokens["sender-1"]
    answer = post(
        sandbox,
        token,
        [
            {"meterID": "7777777777", "values": [["0001-01-01T00:00+01:00", 1.0]]},
            {"meterID": "6666666666", "values": [["9999-12-31T23:59-01:00", 1.0]]},
        ],
    )
    assert answer.status_code == 200
    assert [m["status"] for m in answer.json()] == [400, 400]
    assert all("ISO 8601" in m["message"] for m in answer.json())
