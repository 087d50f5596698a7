"""What a sink plugin implements, and the results it returns.

A sink turns a batch of queued readings into its platform's payloads and sends them,
then says what became of each reading with a :class:`SendResult`. It never sleeps or
retries in a loop of its own: the core does the queueing, the backoff, the per-credential
rate limits and the dead-letter. A sink class is constructed as
``SinkClass(config, context)``; its optional methods get defaults in :class:`SinkAdapter`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from wattbridge._columns import ReadingColumns
from wattbridge._readings import Reading


@attrs.frozen
class SinkLimits:
    """What a platform allows; the core keeps to it.

    ``max_batch``: most readings handed to one ``send`` call.
    ``max_payload_bytes``: the platform's payload bound, for the sink's own packing and
    for status (the core does not encode payloads).
    ``min_interval``: least time between two requests with one credential (see
    :meth:`Sink.credential`); remembered on disk, so a restart never sends early.
    """

    max_batch: int = 1000
    max_payload_bytes: int | None = None
    min_interval: timedelta | None = None


@attrs.frozen
class Batch:
    """Readings taken from the outbox for one ``send`` call, oldest first.

    ``key`` identifies exactly this batch (the same readings give the same key after a
    restart), so a sink with a multi-step upload can store its progress under it.
    """

    readings: Sequence[Reading]
    ids: Sequence[int]
    credential: str = ""

    @property
    def key(self) -> str:
        """A stable name for this batch: first id, last id and size."""
        if not self.ids:
            return "empty"
        return f"{self.ids[0]}-{self.ids[-1]}-{len(self.ids)}"

    @property
    def columns(self) -> ReadingColumns:
        """The batch's readings as columns, for a sink that formats from them (the
        outbox hands them over as columns; a batch built from readings converts)."""
        return ReadingColumns.from_readings(self.readings)

    def __len__(self) -> int:
        return len(self.readings)


def _indices(value: Iterable[int]) -> frozenset[int]:
    return frozenset(value)


def _check_indices(instance: Any, attribute: attrs.Attribute[Any], value: Iterable[int]) -> None:
    # A whole batch's positions (all_ok of 20,000): checked by builtins, in C.
    if (
        isinstance(value, frozenset | dict)
        and set(map(type, value)) <= {int}
        and (not value or min(value) >= 0)
    ):
        return
    for index in value:
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"SendResult.{attribute.name}: {index!r} is not a batch position")


@attrs.frozen
class SendResult:
    """What became of a batch: one of :class:`Settled`, :class:`InProgress` or
    :class:`Halted` (a sum type, as Vector's ``RetryAction``). Build one with the class
    methods; the core matches on the kind.
    """

    reason: str = ""

    @classmethod
    def all_ok(cls, batch: Batch) -> Settled:
        """Every reading was stored by the platform."""
        return Settled(ok=frozenset(range(len(batch))))

    @classmethod
    def all_retry(cls, batch: Batch, reason: str, not_before: datetime | None = None) -> Settled:
        """Nothing was stored; try again after backoff, and not before ``not_before``."""
        return Settled(retry=frozenset(range(len(batch))), reason=reason, not_before=not_before)

    @classmethod
    def all_rejected(cls, batch: Batch, reason: str) -> Settled:
        """The platform refused every reading as invalid: dead-letter them with ``reason``."""
        return Settled(rejected=dict.fromkeys(range(len(batch)), reason), reason=reason)

    @classmethod
    def in_progress(cls, reason: str, not_before: datetime, requested: bool = True) -> InProgress:
        """A multi-step delivery is under way; call ``send`` with this batch again later.

        Not a failure: no backoff grows and no error is recorded. ``requested=False``:
        no request was made this time, so a rate-limit window is not used up.
        """
        return InProgress(reason=reason, not_before=not_before, requested=requested)

    @classmethod
    def halted(cls, reason: str) -> Halted:
        """The platform refused the credential itself (a wrong token): stop sending with it.

        The readings stay queued; the error shows in ``wattbridge status`` and the log,
        and sending resumes only after a restart (with, presumably, a fixed config).
        """
        return Halted(reason=reason)

    @classmethod
    def partial(
        cls,
        ok: Iterable[int] = (),
        retry: Iterable[int] = (),
        rejected: Mapping[int, str] | None = None,
        reason: str = "",
        not_before: datetime | None = None,
        requested: bool = True,
    ) -> Settled:
        """A per-reading account; readings left out were not sent and stay queued.

        ``requested=False`` says no request reached the platform (all were refused
        locally), so the credential's rate-limit window is not used up.
        """
        return Settled(
            ok=frozenset(ok),
            retry=frozenset(retry),
            rejected=dict(rejected or {}),
            reason=reason,
            not_before=not_before,
            requested=requested,
        )


@attrs.frozen
class Settled(SendResult):
    """A per-reading account of a batch, by position in it.

    ``ok`` were stored, ``retry`` failed and wait for backoff (and ``not_before``),
    ``rejected`` are dead-lettered with their reasons. A position named in none of them
    was not sent and stays queued with no attempt counted; one position in two sets is
    a sink bug, refused here.
    """

    ok: frozenset[int] = attrs.field(
        default=frozenset(), converter=_indices, validator=_check_indices
    )
    retry: frozenset[int] = attrs.field(
        default=frozenset(), converter=_indices, validator=_check_indices
    )
    rejected: Mapping[int, str] = attrs.field(factory=dict, validator=_check_indices)
    not_before: datetime | None = None
    requested: bool = True

    def __attrs_post_init__(self) -> None:
        overlap = (self.ok & self.retry) | ((self.ok | self.retry) & set(self.rejected))
        if overlap:
            raise ValueError(f"SendResult names positions {sorted(overlap)} in two outcomes")

    def fits(self, size: int) -> bool:
        """True if every position is inside a batch of ``size`` readings."""
        return all(max(positions, default=-1) < size for positions in (self.ok, self.retry,
                   self.rejected))  # fmt: skip


@attrs.frozen
class InProgress(SendResult):
    """A multi-step delivery is under way: offer the same batch again at ``not_before``."""

    not_before: datetime = attrs.field(kw_only=True)
    requested: bool = True


@attrs.frozen
class Halted(SendResult):
    """The platform refused the credential: stop sending with it until a restart."""

    def __attrs_post_init__(self) -> None:
        if not self.reason:
            raise ValueError("SendResult.halted needs a reason: the user must see why")


class SinkState(Protocol):
    """A sink's small durable key-value store (in its outbox), for multi-step deliveries."""

    def get(self, key: str) -> str | None:
        """The stored value, or None."""
        ...

    def set(self, key: str, value: str | None) -> None:
        """Store ``value`` durably (None deletes the key)."""
        ...


@attrs.frozen
class SinkContext:
    """What wattbridge gives a sink: its name, a private folder, a logger and durable state."""

    name: str
    state_dir: Path
    logger: logging.Logger
    state: SinkState


class SharedRateLimits(Protocol):
    """Where a sink's per-credential request stamps live when several processes may send
    with one credential (uplinks of a cluster); a plugin hands one out through the
    ``wattbridge_shared_rate_limits`` hook. Kept beside the outbox's own stamps: the
    core sends only when both allow it.
    """

    def last_request(self, credential: str) -> float | None:
        """When (epoch seconds) the last request with ``credential`` went out, anywhere.

        Raises (any exception) when the store cannot be read: the core then waits."""
        ...

    def claim(self, credential: str, at: float, interval: float) -> bool:
        """Record a request with ``credential`` at ``at``, atomically, only if the last
        one is at least ``interval`` seconds older; False (nothing recorded) otherwise.

        Called before the request is sent; raising counts as False."""
        ...

    def release(self, credential: str) -> None:
        """Undo this process's last :meth:`claim` of ``credential`` (no request was made)."""
        ...


@runtime_checkable
class Sink(Protocol):
    """A sink plugin's instance."""

    limits: SinkLimits

    def send(self, batch: Batch) -> SendResult:
        """Deliver ``batch`` (or part of it) and say what became of each reading.

        Raising counts as a retry of the whole batch with the exception as the reason.
        """
        ...

    # Optional methods (SinkAdapter supplies the defaults): open(), close(),
    # credential(reading) -> str (a per-credential rate limit's key), check(): try
    # the credentials against the platform once, for set-up forms; raise
    # PermissionError for a refused credential, OSError (ConnectionError,
    # TimeoutError) when it cannot be reached; interrupt(): called from another thread
    # when wattbridge stops, to make a send that waits on the network return soon (its
    # batch then a retry), so a stop is not held by a slow platform; and preview(batch)
    # -> iterable of (where, payload) text pairs: what send would send, made by the same
    # code, without sending or storing anything (`wattbridge test`).


class SinkAdapter:
    """A plugin's sink with the optional methods filled in: the one place that asks
    which of ``open``, ``close``, ``interrupt``, ``credential``, ``check`` and
    ``preview`` a sink defines.

    The core talks only to the adapter, so a sink class needs nothing but ``limits`` and
    ``send``; the others default to doing nothing (``check`` to "cannot check").
    """

    def __init__(self, sink: Sink) -> None:
        self.plugin = sink
        self.limits: SinkLimits = sink.limits
        self._open = optional_method(sink, "open")
        self._close = optional_method(sink, "close")
        self._interrupt = optional_method(sink, "interrupt")
        self._check = optional_method(sink, "check")
        self._credential: Callable[[Reading], str] | None = optional_method(sink, "credential")
        self._preview = optional_method(sink, "preview")

    def send(self, batch: Batch) -> SendResult:
        """The sink's ``send``."""
        return self.plugin.send(batch)

    def open(self) -> None:
        """Connect, if the sink needs to; raises what the sink raises."""
        if self._open is not None:
            self._open()

    def close(self) -> None:
        """Release the sink's connections and files."""
        if self._close is not None:
            self._close()

    def interrupt(self) -> None:
        """Ask a send in progress to return soon (wattbridge is stopping); from any
        thread. Never raises: a failing interrupt must not stop the stop."""
        if self._interrupt is None:
            return
        try:
            self._interrupt()
        except Exception:
            logging.getLogger("wattbridge.sinks").exception(
                "interrupting sink %s failed", type(self.plugin).__name__
            )

    @property
    def has_credentials(self) -> bool:
        """True if the sink assigns readings to rate-limited credentials."""
        return self._credential is not None

    def credential(self, reading: Reading) -> str:
        """The rate-limit credential of ``reading`` ("" when the sink has none)."""
        return self._credential(reading) if self._credential is not None else ""

    @property
    def can_check(self) -> bool:
        """True if the sink can try its credentials against the platform."""
        return self._check is not None

    def check(self) -> bool:
        """Try the credentials once; False if the sink cannot check.

        Raises :class:`PermissionError` for a refused credential and :class:`OSError`
        when the platform cannot be reached, as the sink's ``check`` does.
        """
        if self._check is None:
            return False
        self._check()
        return True

    @property
    def can_preview(self) -> bool:
        """True if the sink can show the payloads it would send (``wattbridge test``)."""
        return self._preview is not None

    def preview(self, batch: Batch) -> list[tuple[str, str]]:
        """The sink's ``preview``: (where, payload) pairs for ``batch``, nothing sent."""
        if self._preview is None:
            return []
        return [(str(where), str(payload)) for where, payload in self._preview(batch)]


def optional_method(plugin: object, name: str) -> Any:
    """``plugin.name`` if it is a method the plugin defines, else None (the adapters'
    one look at what a plugin object offers)."""
    method = getattr(plugin, name, None)
    return method if callable(method) else None
