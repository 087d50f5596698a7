"""What every platform sandbox is built on: a real HTTP server on loopback.

A sandbox is a platform as its documentation describes it, run locally so that a sink
can be tried, and tested, against rules it did not write itself. The parts they all
need live here, once:

- :class:`HttpSandbox`: binds the address (port 0: a free one), serves HTTPS when
  given an :class:`ssl.SSLContext`, runs in a daemon thread, and stops cleanly
  (hung requests are released first);
- :class:`SandboxHandler`: the request handler base, quiet on stderr, tolerant of
  clients that vanish mid-request (the crash tests kill them on purpose);
- :class:`RequestLog`: every request as it arrived and as it was answered;
- :class:`Faults`: rules that make the next matching requests fail, hang, or trickle
  their answer a byte at a time, and holds on a sandbox's background stages;
- :class:`SandboxClock`: real time plus an offset that tests set or move.

A sandbox must never import its own sink's code: it would then agree with the sink's
bugs instead of catching them (``tests/test_layering.py`` checks this).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import ssl
import threading
import time
from collections.abc import Collection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import attrs

log = logging.getLogger("wattbridge.sandbox")


class SandboxClock:
    """Real time plus an offset that tests move forward (or set outright)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self) -> float:
        """The sandbox's time, in epoch seconds."""
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock ``seconds`` forward; returns the new time."""
        with self._lock:
            self._offset += seconds
        return self.now()

    def set(self, epoch: float) -> float:
        """Make the clock read ``epoch`` now (it runs on from there)."""
        with self._lock:
            self._offset = epoch - time.time()
        return self.now()


@attrs.define
class Rule:
    """What to do with the next ``count`` requests matching ``method`` and ``path``."""

    action: Literal["fail", "hang", "trickle"]
    count: int
    method: str | None
    path: re.Pattern[str] | None
    status: int = 500
    seconds: float = 0.0
    """A hang's length; a trickle's pause before each byte."""
    after: bool = False
    """Hang after carrying the request out, before answering (the answer is lost)."""

    def matches(self, method: str, path: str) -> bool:
        """True if this rule applies to the request."""
        return (self.method is None or self.method == method) and (
            self.path is None or self.path.search(path) is not None
        )


class Faults:
    """A sandbox's fault rules, and holds on its background stages.

    Each sandbox decides where a request meets the rules (on arrival, or once it is
    authorised) and what a hang ends in; the rules themselves are the same everywhere.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self.released = threading.Event()
        """Set on :meth:`clear` (and so on stop): ends every hang at once."""
        self._holds: dict[str, threading.Event] = {}

    def fail(
        self, count: int = 1, status: int = 500, method: str | None = None, path: str | None = None
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``."""
        self._add(Rule("fail", count, method, re.compile(path) if path else None, status=status))

    def hang(
        self,
        seconds: float = 3600.0,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
        after: bool = False,
    ) -> None:
        """Hang the next ``count`` matching requests for ``seconds`` (or until cleared);
        with ``after``, the request is carried out first and only the answer hangs."""
        self._add(
            Rule("hang", count, method, re.compile(path) if path else None, 500, seconds, after)
        )

    def trickle(
        self,
        seconds_per_byte: float = 1.0,
        count: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        """Carry out the next ``count`` matching requests, then send each answer's body
        one byte every ``seconds_per_byte`` (until cleared): a server that is slow, not
        silent, so no read of the client ever times out."""
        self._add(Rule("trickle", count, method, re.compile(path) if path else None, 200,
                       seconds_per_byte))  # fmt: skip

    def _add(self, rule: Rule) -> None:
        with self._lock:
            self.released.clear()
            self._rules.append(rule)

    def clear(self) -> None:
        """Drop every rule, release hanging requests and held stages."""
        with self._lock:
            self._rules.clear()
            self.released.set()
            for event in self._holds.values():
                event.set()
            self._holds.clear()

    def take(
        self, method: str, path: str, actions: Collection[str] = ("fail", "hang")
    ) -> Rule | None:
        """The rule for this request (counting it down), or None. ``actions``: the kinds
        this step applies (a trickle is met where the answer is written)."""
        with self._lock:
            for rule in self._rules:
                if rule.count > 0 and rule.action in actions and rule.matches(method, path):
                    rule.count -= 1
                    return rule
        return None

    def wait(self, seconds: float) -> None:
        """Hang: block up to ``seconds`` or until released."""
        self.released.wait(seconds)

    def hold(self, stage: str) -> None:
        """Keep work in ``stage`` (a sandbox's background step) until :meth:`release`."""
        with self._lock:
            self._holds.setdefault(stage, threading.Event())

    def release(self, stage: str) -> None:
        """Let work held in ``stage`` go on."""
        with self._lock:
            event = self._holds.pop(stage, None)
        if event is not None:
            event.set()

    def wait_for_release(self, stage: str, stopping: threading.Event) -> None:
        """Block a background stage while it is held (or until the sandbox stops)."""
        while not stopping.is_set():
            with self._lock:
                event = self._holds.get(stage)
            if event is None:
                return
            event.wait(0.1)


@attrs.frozen
class LoggedRequest:
    """One answered request: when (the sandbox's clock), what, and the answer."""

    at: float
    method: str
    path: str
    status: int
    size: int = 0
    """The body's length, as its Content-Length said."""
    sender: str | None = None
    """Who sent it, by the credentials it carried (a sender profile, a token's label)."""


class RequestLog:
    """Every request as it arrived and as it was answered (thread-safe).

    Arrivals are kept apart from answers so a test can wait for a request that is
    still hanging.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: list[tuple[str, str]] = []
        self._answered: list[LoggedRequest] = []

    def arrive(self, method: str, path: str) -> None:
        """Note a request on arrival."""
        with self._lock:
            self._arrivals.append((method, path))

    def answer(self, entry: LoggedRequest) -> None:
        """Note a request's answer."""
        with self._lock:
            self._answered.append(entry)

    def arrived(self, method: str, pattern: str) -> int:
        """How many requests of ``method`` whose path matches ``pattern`` arrived
        (answered or not)."""
        regex = re.compile(pattern)
        with self._lock:
            return sum(1 for m, p in self._arrivals if m == method and regex.search(p))

    def answered(self, path: str | None = None) -> list[LoggedRequest]:
        """The answered requests in the order they were answered, or those to ``path``."""
        with self._lock:
            return [r for r in self._answered if path is None or r.path == path]


class SandboxHandler(BaseHTTPRequestHandler):
    """The request handler base of a sandbox; ``sandbox`` is set per server."""

    sandbox: Any
    protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        """Serve the connection; a client that vanished is no error of the sandbox."""
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass

    def log_message(self, format: str, *args: Any) -> None:
        """To the debug log, not stderr: the request log is the record."""
        log.debug("%s %s", self.address_string(), format % args)

    def content_length(self) -> int:
        """The request body's declared length (0 when missing or not a number)."""
        try:
            return max(0, int(self.headers.get("Content-Length") or 0))
        except ValueError:
            return 0

    def read_body(self) -> bytes:
        """The whole request body."""
        length = self.content_length()
        return self.rfile.read(length) if length else b""

    def bearer_token(self) -> str | None:
        """The token of an ``Authorization: Bearer`` header, if there is one."""
        header = self.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        return token or None

    def send_body(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Send a whole answer (a client that gave up waiting is not told)."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        try:
            self.write_body(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def write_body(self, body: bytes) -> None:
        """Write an answer's body (its headers sent), a byte at a time under a trickle
        fault; a trickle ended by :meth:`Faults.clear` drops the connection."""
        faults: Faults = self.sandbox.faults
        rule = faults.take(self.command, urlsplit(self.path).path, actions=("trickle",))
        if rule is None:
            self.wfile.write(body)
            return
        for position in range(len(body)):
            if faults.released.wait(rule.seconds):
                self.close_connection = True
                return
            self.wfile.write(body[position : position + 1])


class HttpSandbox:
    """A sandbox's server and its shared parts (``clock``, ``faults``, ``log``).

    A subclass calls ``super().__init__()`` first, sets up its own state, and calls
    :meth:`serve` last, since requests may come in from then on.
    """

    name = "sandbox"
    """Names the serving thread."""

    def __init__(self) -> None:
        self.clock = SandboxClock()
        self.faults = Faults()
        self.log = RequestLog()
        self.stopping = threading.Event()
        """Set by :meth:`stop`; background work and hangs end on it."""
        self.url = ""
        """The server's base URL (no path), once serving."""
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def serve(
        self,
        host: str,
        port: int,
        handler: type[SandboxHandler],
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """Bind ``host``:``port`` (0: a free port) and serve in a daemon thread;
        ``ssl_context`` (a server context) makes it HTTPS, for tests of a client's
        certificate checks."""
        bound = type(handler.__name__, (handler,), {"sandbox": self})
        self._httpd = ThreadingHTTPServer((host, port), bound)
        self._httpd.daemon_threads = True
        scheme = "http"
        if ssl_context is not None:
            self._httpd.socket = ssl_context.wrap_socket(self._httpd.socket, server_side=True)
            scheme = "https"
        bound_host, bound_port = self._httpd.server_address[:2]
        self.url = f"{scheme}://{bound_host!s}:{bound_port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=self.name, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Release hung requests, stop serving and wait for the server thread."""
        self.stopping.set()
        self.faults.clear()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)


def server_context(cert: Any, key: Any) -> ssl.SSLContext:
    """A server TLS context for a certificate and its key (PEM files)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def open_database(path: Path, schema: str) -> sqlite3.Connection:
    """A sandbox's SQLite database at ``path`` with ``schema`` applied: one connection
    shared by the server's threads (the sandbox holds a lock around it), autocommit,
    WAL so a test may read it while the sandbox writes."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db
