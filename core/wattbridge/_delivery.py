"""Draining one sink's outbox: batches, backoff with jitter, per-credential rate limits,
and what each kind of :class:`~wattbridge._sinks.SendResult` means for each reading.

The sink only sends and classifies; every wait is decided here and stored in the
outbox, so it holds across restarts.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs

from wattbridge._backoff import Backoff
from wattbridge._deliverystate import DeliveryState, Retrying
from wattbridge._outbox import Outbox, OutboxDamaged
from wattbridge._secret import redact
from wattbridge._sinks import (
    Batch,
    Halted,
    InProgress,
    SendResult,
    Settled,
    SharedRateLimits,
    SinkAdapter,
)

Clock = Callable[[], float]

RESUME_FREE_BYTES = 1_000_000
"""Free bytes an outbox's disk must have again before a sink that stalled on it resumes:
room for the acks of many batches (one is tens of kilobytes of write-ahead log)."""

STALL_LOG_EVERY = 600.0
"""Seconds between two errors logged for an outbox that again cannot record progress."""
SHARED_RETRY = 1.0
"""Seconds to wait before asking shared rate limits again when they could not be read."""


class SinkWorker:
    """Sends one sink's queued readings, keeping to its limits. One flush runs at a time."""

    def __init__(
        self,
        name: str,
        sink: SinkAdapter,
        outbox: Outbox,
        *,
        batch_size: int | None = None,
        retry_initial: timedelta = timedelta(seconds=1),
        retry_max: timedelta = timedelta(minutes=5),
        on_deadletter: Callable[[str, list[Any], str], None] | None = None,
        logger: logging.Logger | None = None,
        clock: Clock = time.time,
    ) -> None:
        self.name = name
        self.sink = sink
        self.outbox = outbox
        self.state = DeliveryState(outbox)
        limits = sink.limits
        self.batch_size = min(batch_size or limits.max_batch, limits.max_batch)
        self.min_interval = limits.min_interval.total_seconds() if limits.min_interval else None
        self.backoff = Backoff(retry_initial.total_seconds(), retry_max.total_seconds())
        self.on_deadletter = on_deadletter
        self.log = logger or logging.getLogger(f"wattbridge.sink.{name}")
        self.clock = clock
        self._flush_lock = threading.Lock()
        # A batch whose delivery is in progress, by credential: offered again as it is
        # (same ids, same key) rather than re-read, while newer readings wait behind it.
        self._in_progress: dict[str, Batch] = {}
        self.shared: SharedRateLimits | None = None
        """Request stamps kept where other processes read them too (set by the runtime
        from the ``wattbridge_shared_rate_limits`` hook); used with ``min_interval``."""
        self._shared_unreadable = False
        if self.min_interval:
            outbox.use_credentials()
        # A stamp later than now by more than this was written by a clock that was ahead.
        self._window = max(self.min_interval or 0.0, self.backoff.maximum)
        self.stalled: str | None = None
        """Why the outbox cannot record progress (a full disk), or None; no sending then."""
        self._stall_logged_at = -STALL_LOG_EVERY
        self.lost_outbox: str | None = None
        """Why this sink stopped for good in this run: its outbox file was deleted, or a
        segment of it is damaged."""

    @property
    def busy(self) -> bool:
        """True while a flush is running."""
        return self._flush_lock.locked()

    def flush(self, stop: threading.Event | None = None) -> int:
        """Send what is due now until nothing more can be sent; returns readings settled.

        Stops between batches when ``stop`` is set. Never sleeps: a credential that is
        rate-limited or backing off is skipped until a later flush.
        """
        if not self._flush_lock.acquire(blocking=False):
            return 0
        settled = 0
        try:
            if self.lost_outbox is not None or self._outbox_gone():
                return 0
            if self.stalled is not None and not self._can_record():
                return 0
            while not (stop is not None and stop.is_set()):
                if self._disk_nearly_full():
                    break
                progress = 0
                for credential in self._due_credentials():
                    if stop is not None and stop.is_set():
                        break
                    progress += self._send_one(credential)
                settled += progress
                if progress == 0 or self.outbox.depth == 0:
                    break
            return settled
        except sqlite3.OperationalError as exc:
            # An ack, an attempt or a rate-limit stamp could not be written (a full disk):
            # sending on would repeat the same batch as fast as the platform takes it.
            self._stall(str(exc))
            return settled
        except OutboxDamaged as exc:
            # A segment whose checksum fails: sending past it would reorder the queue, and
            # it never heals. Puts go on (they write new rows); recover salvages the rest.
            self.lost_outbox = f"{exc}; sending stopped"
            self.log.error(
                "%s; stop the run and `wattbridge outbox recover %s`", self.lost_outbox, self.name
            )
            return settled
        finally:
            self._flush_lock.release()

    def _outbox_gone(self) -> bool:
        """True (and the sink stopped for this run) once the outbox file was deleted or
        replaced: acks and puts would go to a file no restart will see. What the open
        file still holds is saved beside it, for ``wattbridge outbox recover --from``."""
        gone = self.outbox.gone()
        if gone is None:
            return False
        copy = self.outbox.path.with_name(f"{self.outbox.path.name}.deleted-{int(time.time())}")
        try:
            self.outbox.save_copy(copy)
            saved = f"what it held is saved in {copy}"
        except (OSError, sqlite3.Error) as exc:
            saved = f"saving what it held to {copy} failed: {exc}"
        self.lost_outbox = f"{gone}; sending stopped ({saved})"
        self.log.error(
            "%s; restart to begin a fresh outbox, and add the saved readings with "
            "`wattbridge outbox recover %s --from %s`",
            self.lost_outbox,
            self.name,
            copy,
        )
        return True

    def _disk_nearly_full(self) -> bool:
        """True (and the sink stalled) when the outbox's disk has too little room left
        to record what a batch delivers: better not to send than to send twice."""
        free = self.outbox.free_bytes()
        if free >= RESUME_FREE_BYTES:
            return False
        self._stall(f"{free} bytes free on its disk (it needs {RESUME_FREE_BYTES})")
        return True

    def _stall(self, why: str) -> None:
        self.stalled = f"cannot record progress in {self.outbox.path}: {why}"
        now = time.monotonic()
        if now - self._stall_logged_at >= STALL_LOG_EVERY:
            self._stall_logged_at = now
            self.log.error("%s; not sending until it can (free some disk space)", self.stalled)
        else:
            self.log.debug("%s", self.stalled)

    def _can_record(self) -> bool:
        """True (and sending resumes) once the disk has room for acks again and the
        outbox takes a write. A small write alone is not enough: with a few kilobytes
        free it succeeds, the next ack fails, and every such round sent a batch again."""
        try:
            if self.outbox.free_bytes() < RESUME_FREE_BYTES:
                return False
            self.outbox.set_state("probe", repr(self.clock()))
        except (OSError, sqlite3.OperationalError):
            return False
        self.log.warning("the outbox records progress again: sending resumes")
        self.stalled = None
        return True

    def next_due(self) -> float | None:
        """When the earliest waiting credential may send again (None: nothing waits)."""
        if self.outbox.depth == 0:
            return None
        credentials = self.outbox.credentials_waiting() if self.min_interval else [""]
        return min((self._ready_at(c) for c in credentials), default=None)

    # -- internals -------------------------------------------------------------

    def _due_credentials(self) -> list[str | None]:
        if self.outbox.depth == 0:
            return []
        now = self.clock()
        if self.min_interval:
            return [c for c in self.outbox.credentials_waiting() if self._ready_at(c) <= now]
        return [None] if self._ready_at("") <= now else []

    def _ready_at(self, credential: str) -> float:
        if self.state.halted(credential) is not None:
            return float("inf")
        ready = self._retry_at(credential)
        if self.min_interval:
            last = self._last_request(credential)
            if last is not None:
                ready = max(ready, last + self.min_interval)
            if self.shared is not None:
                ready = max(ready, self._shared_ready_at(self.shared, credential))
        return ready

    def _shared_ready_at(self, shared: SharedRateLimits, credential: str) -> float:
        assert self.min_interval is not None
        try:
            last = shared.last_request(credential)
        except Exception as exc:
            # Unknown is not "free": another process may just have sent with it.
            log = self.log.debug if self._shared_unreadable else self.log.warning
            log("shared rate limits cannot be read (%s); waiting", redact(str(exc)))
            self._shared_unreadable = True
            return self.clock() + SHARED_RETRY
        if self._shared_unreadable:
            self.log.info("shared rate limits readable again")
            self._shared_unreadable = False
        return -float("inf") if last is None else last + self.min_interval

    def _retry_at(self, credential: str) -> float:
        """When a backoff or a wait lets the credential try again. One decided in the
        future (a clock that was ahead) is moved back: its delay counts from now."""
        retrying = self.state.retrying(credential)
        now = self.clock()
        if retrying.at > now + self._window:
            moved = now + max(0.0, retrying.next_at - retrying.at)
            self.log.warning(
                "the retry%s was decided at %s, %.0fs ahead of the clock now: the clock was "
                "ahead; waiting %.0fs from now instead",
                _label(credential),
                _iso(retrying.at),
                retrying.at - now,
                moved - now,
            )
            self.state.reschedule(credential, attrs.evolve(retrying, next_at=moved, at=now))
            return moved
        return retrying.next_at

    def _last_request(self, credential: str) -> float | None:
        """When the last request with the credential went out; a stamp from the future
        (later than now + the window: the clock was ahead when it was written) counts
        as now, so one run with a wrong clock cannot silence a sink for as long."""
        stored = self.state.last_request(credential)
        if stored is None:
            return None
        last = float(stored)
        now = self.clock()
        if last > now + self._window:
            self.log.warning(
                "the last request%s is stamped %s, %.0fs ahead of the clock now: the clock "
                "was ahead when it was written; counting it as sent now",
                _label(credential),
                _iso(last),
                last - now,
            )
            self.state.request_made(credential, now)
            return now
        return last

    def _send_one(self, credential: str | None) -> int:
        resumed = self._in_progress.pop(credential or "", None)
        batch = resumed or self.outbox.take(self.batch_size, credential)
        if not batch.ids:
            return 0
        key = batch.credential
        previous_request = None
        if self.min_interval:
            previous_request = self.state.last_request(key)
            self.state.request_made(key, self.clock())
            # The shared claim last, just before the request: the platform counts its
            # window from arrival, so the claim's time must be as close to it as can be.
            if not self._claim_shared(key):
                self.state.request_not_made(key, previous_request)
                if resumed is not None:  # offered again as it is, once the claim succeeds
                    self._in_progress[key] = resumed
                return 0
        result = self._send(batch)
        if self.min_interval and isinstance(result, Settled | InProgress) and not result.requested:
            self.state.request_not_made(key, previous_request)
            if self.shared is not None:
                self._release_shared(key)
        return self._apply(batch, result)

    def _claim_shared(self, credential: str) -> bool:
        """True when no shared store is set, or it recorded this request (no other
        process sent with the credential inside the interval)."""
        if self.shared is None:
            return True
        assert self.min_interval is not None
        try:
            return self.shared.claim(credential, self.clock(), self.min_interval)
        except Exception as exc:
            self.log.warning("shared rate limits cannot be written (%s)", redact(str(exc)))
            return False

    def _release_shared(self, credential: str) -> None:
        assert self.shared is not None
        try:
            self.shared.release(credential)
        except Exception as exc:  # the stamp stays: a later send waits longer, no harm
            self.log.warning("shared rate limit not released (%s)", redact(str(exc)))

    def _send(self, batch: Batch) -> SendResult:
        """The sink's result, or a retry of the whole batch when it raised or broke the
        contract (a sink bug must cost a retry, never a reading)."""
        try:
            result = self.sink.send(batch)
            if not isinstance(result, Settled | InProgress | Halted):
                raise TypeError(f"send() returned {type(result).__name__}, not a SendResult")
            if isinstance(result, Settled) and not result.fits(len(batch)):
                raise ValueError(f"send() named positions outside a batch of {len(batch)}")
        except Exception as exc:
            self.log.warning("sending %d readings failed", len(batch), exc_info=True)
            return SendResult.all_retry(batch, f"{type(exc).__name__}: {exc}")
        return result

    def _apply(self, batch: Batch, result: SendResult) -> int:
        key = batch.credential
        label = f" (credential {key})" if key else ""
        match result:
            case Halted(reason=reason):
                self.state.halt(key, redact(reason), self.clock())
                self.log.error(
                    "stopped sending%s: %s; fix the config and restart", label, redact(reason)
                )
                return 0
            case InProgress(reason=reason, not_before=not_before):
                self._in_progress[key] = batch
                self.state.wait(key, not_before.timestamp(), self.clock())
                self.log.debug("%s%s", reason, label)
                return 0
            case Settled():
                return self._settle(batch, result, label)
        raise AssertionError(f"unhandled {result!r}")  # _send lets only the three kinds by

    def _settle(self, batch: Batch, result: Settled, label: str) -> int:
        now = self.clock()
        key = batch.credential
        # Every position (all_ok, the common answer) is the batch's ids as they are.
        ids = batch.ids
        ok = list(ids) if len(result.ok) == len(ids) else [ids[i] for i in result.ok]
        if ok:
            self.outbox.ack(ok, DeliveryState.succeeded(key, now))
        if result.rejected:
            reasons = {batch.ids[i]: redact(r) for i, r in result.rejected.items()}
            self.outbox.deadletter(reasons)
            self.log.warning(
                "%d reading(s) dead-lettered%s: %s",
                len(reasons),
                label,
                redact(next(iter(result.rejected.values()))),
            )
            if self.on_deadletter is not None:
                rejected = [batch.readings[i] for i in result.rejected]
                self.on_deadletter(self.name, rejected, redact(result.reason or "rejected"))
        if result.retry:
            self.outbox.count_attempt(batch.ids[i] for i in result.retry)
            failures = self.state.retrying(key).failures + 1
            next_at = now + self.backoff.delay(failures)
            if result.not_before is not None:
                next_at = max(next_at, result.not_before.timestamp())
            reason = redact(result.reason or "retry")
            self.state.failed(key, Retrying(failures, next_at, now), reason, now)
            log = self.log.warning if failures == 1 or failures % 10 == 0 else self.log.info
            log(
                "%d reading(s) will be retried in %.1fs (attempt %d)%s: %s",
                len(result.retry),
                next_at - now,
                failures,
                label,
                reason,
            )
        return len(ok) + len(result.rejected)


def _label(credential: str) -> str:
    return f" (credential {credential})" if credential else ""


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
