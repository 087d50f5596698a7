"""The sandbox base both platform sandboxes extend, tried with a minimal sandbox of
its own: real HTTP (and HTTPS) on loopback, fault rules, the request log, the clock."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from wattbridge.testing import make_certificates
from wattbridge_plugins.common.sandbox import (
    HttpSandbox,
    LoggedRequest,
    SandboxHandler,
    server_context,
)


class _Echo(SandboxHandler):
    sandbox: EchoSandbox

    def do_POST(self) -> None:
        at = self.sandbox.clock.now()
        self.sandbox.log.arrive("POST", self.path)
        body = self.read_body()
        rule = self.sandbox.faults.take("POST", self.path)
        status = 200
        if rule is not None and rule.action == "hang":
            self.sandbox.faults.wait(rule.seconds)
            self.close_connection = True
            return
        if rule is not None:
            status = rule.status
        self.sandbox.log.answer(
            LoggedRequest(at, "POST", self.path, status, len(body), self.bearer_token())
        )
        self.send_body(status, body, "text/plain")


class EchoSandbox(HttpSandbox):
    """Answers a POST with its body."""

    name = "echo-sandbox"

    def __init__(self, context: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.serve("127.0.0.1", 0, _Echo, context)


@pytest.fixture
def echo() -> Iterator[EchoSandbox]:
    sandbox = EchoSandbox()
    yield sandbox
    sandbox.stop()


def test_serves_logs_and_names_the_sender(echo: EchoSandbox) -> None:
    answer = requests.post(
        echo.url + "/x", data=b"hello", headers={"Authorization": "Bearer t0"}, timeout=5
    )
    assert answer.status_code == 200 and answer.content == b"hello"
    assert echo.log.arrived("POST", "^/x$") == 1
    (entry,) = echo.log.answered("/x")
    assert (entry.status, entry.size, entry.sender) == (200, 5, "t0")


def test_fault_rules_count_down_and_match_the_path(echo: EchoSandbox) -> None:
    echo.faults.fail(count=2, status=503, path="^/a$")
    statuses = [
        requests.post(echo.url + path, data=b"", timeout=5).status_code
        for path in ("/b", "/a", "/a", "/a")
    ]
    assert statuses == [200, 503, 503, 200]


def test_stop_releases_a_hanging_request_at_once(echo: EchoSandbox) -> None:
    echo.faults.hang(seconds=60)
    outcome: list[BaseException] = []

    def post() -> None:
        try:
            requests.post(echo.url + "/slow", data=b"", timeout=30)
        except requests.RequestException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=post)
    thread.start()
    while not echo.log.arrived("POST", "/slow"):
        time.sleep(0.01)
    started = time.monotonic()
    echo.stop()
    thread.join(10)
    assert time.monotonic() - started < 5 and not thread.is_alive()
    assert outcome and echo.log.answered() == []  # the hung request got no answer


def test_https_with_the_given_certificate(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    sandbox = EchoSandbox(server_context(certs.cert, certs.key))
    try:
        assert sandbox.url.startswith("https://127.0.0.1:")
        with pytest.raises(requests.exceptions.SSLError):
            requests.post(sandbox.url + "/x", data=b"", timeout=5)
        answer = requests.post(sandbox.url + "/x", data=b"ok", verify=str(certs.ca), timeout=5)
        assert answer.content == b"ok"
    finally:
        sandbox.stop()


def test_the_clock_is_set_and_moved(echo: EchoSandbox) -> None:
    echo.clock.set(1_000_000.0)
    assert 1_000_000.0 <= echo.clock.now() < 1_000_010.0
    assert echo.clock.advance(600) >= 1_000_600.0
