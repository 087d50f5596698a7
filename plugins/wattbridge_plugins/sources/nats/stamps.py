"""Rate-limit stamps in a JetStream KV bucket: :class:`wattbridge.SharedRateLimits` for
the sinks an uplink names in ``shared_limits``.

The outbox of each uplink keeps its own stamps; these are the cluster's. A claim reads a
credential's key and writes the new time with compare-and-set on the revision it read,
so of two uplinks claiming at once one wins and the other waits: one request per
credential per interval holds across the cluster, whichever uplink owns it, even when a
dead owner's successor takes over mid-window or the dead one comes back with readings
still in its outbox. Clocks of the uplinks must agree (NTP); the sinks' own margin (the
energinet sink's ``request_margin``) absorbs the jitter.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from wattbridge_plugins.common.nats_bridge import EventLoopThread
from wattbridge_plugins.common.nats_keys import key_token

READ_EVERY = 0.5
"""Seconds a read stamp is reused for deciding when to try (a claim always reads)."""


class KvRateLimits:
    """One sink's shared request stamps, read and written from the sink's thread."""

    def __init__(self, sink: str, timeout: float) -> None:
        self.sink = sink
        self.timeout = timeout
        self._loop: EventLoopThread | None = None
        self._kv: Any = None
        self._claims: dict[str, tuple[int, float | None]] = {}
        self._read: dict[str, tuple[float, float | None]] = {}
        self._lock = threading.Lock()

    def attach(self, loop: EventLoopThread | None, kv: Any) -> None:
        """Use ``kv`` on ``loop`` (None while the source is not connected)."""
        self._loop, self._kv = loop, kv

    def _key(self, credential: str) -> str:
        return f"{key_token(self.sink)}.{key_token(credential)}"

    def _run(self, coroutine: Any) -> Any:
        loop, kv = self._loop, self._kv
        if loop is None or kv is None:
            coroutine.close()
            raise ConnectionError("the nats source is not connected to the stamps bucket")
        return loop.run(coroutine, self.timeout)

    def last_request(self, credential: str) -> float | None:
        """The cluster's last request time with ``credential`` (None: never), read at
        most every :data:`READ_EVERY` seconds: only :meth:`claim` must be current, and it
        reads afresh."""
        now = time.monotonic()
        cached = self._read.get(credential)
        if cached is not None and now - cached[0] < READ_EVERY:
            return cached[1]
        last = self._run(self._last(self._key(credential)))[0]
        self._read[credential] = (now, last)
        return last

    def claim(self, credential: str, at: float, interval: float) -> bool:
        """Stamp ``at`` unless another request is less than ``interval`` old (atomic)."""
        with self._lock:
            self._read.pop(credential, None)
            won = self._run(self._claim(self._key(credential), at, interval))
            if won is None:
                return False
            self._claims[credential] = won
            return True

    def release(self, credential: str) -> None:
        """Put back the stamp this uplink's last claim replaced."""
        with self._lock:
            self._read.pop(credential, None)
            claim = self._claims.pop(credential, None)
            if claim is not None:
                self._run(self._put_back(self._key(credential), *claim))

    async def _last(self, key: str) -> tuple[float | None, int]:
        from nats.js.errors import KeyDeletedError, KeyNotFoundError

        try:
            entry = await self._kv.get(key)
        except KeyDeletedError as exc:
            return None, exc.entry.revision if exc.entry is not None else 0
        except KeyNotFoundError:
            return None, 0
        return float(entry.value.decode()), entry.revision

    async def _claim(self, key: str, at: float, interval: float) -> tuple[int, float | None] | None:
        from nats.js.errors import KeyWrongLastSequenceError

        last, revision = await self._last(key)
        if last is not None and at - last < interval:
            return None
        try:
            new = await self._kv.update(key, repr(at).encode(), last=revision)
        except KeyWrongLastSequenceError:
            return None  # another uplink stamped it first
        return new, last

    async def _put_back(self, key: str, revision: int, previous: float | None) -> None:
        from nats.js.errors import KeyWrongLastSequenceError

        try:
            if previous is None:
                await self._kv.delete(key, last=revision)
            else:
                await self._kv.update(key, repr(previous).encode(), last=revision)
        except KeyWrongLastSequenceError:
            pass  # stamped again since: that stamp stands
