"""HTTP requests with a total deadline that ``stop`` can cut short: one session for every
REST client (energinet, energydata's import API and its presigned upload).

requests' ``timeout`` bounds each socket read, not the request: a server that trickles
its answer a byte a second never trips it, and held a sink for minutes (issue 14). A
:class:`DeadlineSession` gives each request a whole-request ``deadline``. A watchdog
thread shuts the request's sockets down when the deadline passes or :meth:`interrupt`
is called (a sink's ``close`` when wattbridge stops); the blocked read then returns at
once and the request raises :class:`DeadlineExceeded` or :class:`Interrupted`, both
``requests.Timeout``, so a caller's existing retry handling applies.

The sockets are found through urllib3's connection classes: each connection registers
itself, as it sends a request, with the deadline of the thread that sends it. A socket
is shut down, not closed: closing a file descriptor that another thread reads is a race
the kernel does not forgive, shutting it down wakes that read with an error.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

WATCH_EVERY = 0.1
"""Seconds between the watchdog's looks at the clock and the stop flag."""


class DeadlineExceeded(requests.Timeout):
    """The whole request took longer than its deadline (the text says how long)."""


class Interrupted(requests.Timeout):
    """The request was cut short by :meth:`DeadlineSession.interrupt` (wattbridge stops)."""


class _Watch:
    """One request's connections, and why they were cut (None while they were not)."""

    def __init__(self) -> None:
        self.connections: list[Any] = []
        self.cut: str | None = None
        self.lock = threading.Lock()

    def add(self, connection: Any) -> None:
        with self.lock:
            self.connections.append(connection)
            cut = self.cut
        if cut is not None:  # a connection made after the cut: cut it too
            _shut(connection)

    def cut_all(self, why: str) -> None:
        with self.lock:
            if self.cut is not None:
                return
            self.cut = why
            connections = list(self.connections)
        for connection in connections:
            _shut(connection)


def _shut(connection: Any) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    try:
        # socket.socket's own shutdown, also for an SSLSocket: it wakes a blocked read
        # without tearing down the TLS object under the reading thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected


_current = threading.local()


class _Watched:
    """Mixed into urllib3's connections: register with the sending thread's watch."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            watch.add(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        watch: _Watch | None = getattr(_current, "watch", None)
        if watch is not None:
            watch.add(self)  # the socket exists now: a cut made meanwhile applies to it


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose pools (direct or through a proxy) make watched connections."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = _POOLS
        return manager


class DeadlineSession(requests.Session):
    """A requests session whose requests end by a total deadline, or on :meth:`interrupt`.

    ``deadline`` (seconds, per request) bounds the whole request: connecting, sending
    the body, and reading the answer to its last byte. ``read_timeout`` still bounds
    each read, as requests' timeout does, so a silent server is noticed sooner. Pass
    ``stream=True`` and the deadline ends when the headers are in: the caller then reads
    the body at its own pace (a long download is not cut).
    """

    def __init__(self, deadline: float, read_timeout: float | None = None) -> None:
        super().__init__()
        self.deadline = deadline
        self.read_timeout = read_timeout if read_timeout is not None else deadline
        self._stopping = threading.Event()
        self._watches: set[_Watch] = set()
        self._watches_lock = threading.Lock()
        adapter = _WatchedAdapter()
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        """requests' ``request`` within the deadline; a ``timeout`` argument is ignored
        (the session's ``read_timeout`` and ``deadline`` apply)."""
        kwargs.pop("timeout", None)
        if self._stopping.is_set():
            raise Interrupted("stopping: the request was not sent")
        with self._watching(self.deadline) as watch:
            # The connect and read timeouts also stop at the deadline.
            timeout = (min(self.deadline, self.read_timeout), self.read_timeout)
            try:
                kwargs["timeout"] = timeout
                return super().request(method, url, *args, **kwargs)
            except requests.RequestException:
                self._raise_cut(watch)
                raise
            except OSError:  # a cut can surface as a bare socket error mid-upload
                self._raise_cut(watch)
                raise

    def _raise_cut(self, watch: _Watch) -> None:
        if watch.cut == "deadline":
            raise DeadlineExceeded(f"no complete answer within {self.deadline:g}s") from None
        if watch.cut == "interrupt":
            raise Interrupted("stopping: the request was cut short") from None

    @contextmanager
    def _watching(self, seconds: float) -> Iterator[_Watch]:
        watch = _Watch()
        with self._watches_lock:
            self._watches.add(watch)
        done = threading.Event()
        ends = time.monotonic() + seconds

        def watchdog() -> None:
            while not done.wait(min(WATCH_EVERY, max(0.0, ends - time.monotonic()))):
                if self._stopping.is_set():
                    watch.cut_all("interrupt")
                    return
                if time.monotonic() >= ends:
                    watch.cut_all("deadline")
                    return

        _current.watch = watch
        thread = threading.Thread(target=watchdog, name="http-deadline", daemon=True)
        thread.start()
        try:
            yield watch
        finally:
            _current.watch = None
            done.set()
            thread.join()
            with self._watches_lock:
                self._watches.discard(watch)

    def interrupt(self) -> None:
        """Cut every request in progress now and refuse new ones (from any thread)."""
        self._stopping.set()
        with self._watches_lock:
            watches = list(self._watches)
        for watch in watches:
            watch.cut_all("interrupt")

    def close(self) -> None:
        """Cut what is in progress and close the connection pools."""
        self.interrupt()
        super().close()
