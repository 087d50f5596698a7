"""DeadlineSession against a real HTTP(S) server built on the sandboxes' own parts: a
trickled answer ends at the deadline, interrupt() cuts a hung request at once, over
plain HTTP and over TLS (where the watchdog shuts down an SSLSocket under a reader)."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from wattbridge.testing import make_certificates, wait_until
from wattbridge_plugins.common.http_deadline import DeadlineExceeded, DeadlineSession, Interrupted
from wattbridge_plugins.common.sandbox import HttpSandbox, SandboxHandler

BODY = b'{"ok": true, "padding": "' + b"x" * 200 + b'"}'


class _Handler(SandboxHandler):
    sandbox: HttpSandbox

    def do_GET(self) -> None:
        self.sandbox.log.arrive("GET", self.path)
        rule = self.sandbox.faults.take("GET", self.path)
        if rule is not None and rule.action == "hang":
            self.sandbox.faults.wait(rule.seconds)
        self.send_body(200, BODY)


class _Server(HttpSandbox):
    def __init__(self, context: ssl.SSLContext | None) -> None:
        super().__init__()
        self.serve("127.0.0.1", 0, _Handler, context)


@pytest.fixture(params=["http", "https"])
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[_Server, object]]:
    verify: object = True
    context = None
    if request.param == "https":
        files = make_certificates(tmp_path / "tls")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(files.cert, files.key)
        verify = str(files.ca)
    running = _Server(context)
    yield running, verify
    running.stop()


def test_an_answer_in_time_is_read_whole(server: tuple[_Server, object]) -> None:
    running, verify = server
    with DeadlineSession(5.0) as session:
        assert session.get(running.url + "/x", verify=verify).content == BODY


def test_a_trickled_answer_ends_at_the_deadline(server: tuple[_Server, object]) -> None:
    running, verify = server
    running.faults.trickle(seconds_per_byte=0.2, count=1)  # ~45 s for the whole body
    with DeadlineSession(1.5, read_timeout=1.0) as session:
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded, match="no complete answer within 1.5s"):
            session.get(running.url + "/x", verify=verify)
        took = time.monotonic() - started
        assert 1.4 < took < 5, took
        # The connection it cut is not reused: the next request is answered whole.
        assert session.get(running.url + "/x", verify=verify).content == BODY


def test_interrupt_cuts_a_hung_request_and_refuses_the_next(
    server: tuple[_Server, object],
) -> None:
    running, verify = server
    running.faults.hang(seconds=3600, count=1)
    session = DeadlineSession(600.0)
    failure: list[BaseException] = []

    def get() -> None:
        try:
            session.get(running.url + "/x", verify=verify)
        except requests.RequestException as exc:
            failure.append(exc)

    thread = threading.Thread(target=get)
    thread.start()
    # Sent and waiting: the server hangs it for an hour.
    wait_until(lambda: running.log.arrived("GET", "/x") == 1, timeout=15)
    started = time.monotonic()
    session.interrupt()
    thread.join(10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 2
    assert isinstance(failure[0], Interrupted)
    with pytest.raises(Interrupted, match="not sent"):
        session.get(running.url + "/x", verify=verify)
    session.close()
