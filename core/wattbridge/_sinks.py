"""What a sink plugin implements, and the results it returns.

A sink turns a batch of queued readings into its platform's payloads and sends them,
then says what became of each reading with a :class:`SendResult`. It never sleeps or
retries in a loop of its own: the core does the queueing, the backoff, the per-credential
rate limits and the dead-letter. A sink class is constructed as
``SinkClass(config, context)`` and may define ``open()`` and ``close()``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

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

    def __len__(self) -> int:
        return len(self.readings)


@attrs.frozen
class SendResult:
    """What became of a batch. Build one with the class methods.

    Indices refer to positions in the batch. A reading not named in ``ok``, ``retry`` or
    ``rejected`` was not sent: it stays queued with no attempt counted.
    """

    ok: frozenset[int] = frozenset()
    retry: frozenset[int] = frozenset()
    rejected: Mapping[int, str] = attrs.field(factory=dict)
    reason: str = ""
    not_before: datetime | None = None
    pending: bool = False
    halt: bool = False
    requested: bool = True

    @classmethod
    def all_ok(cls, batch: Batch) -> SendResult:
        """Every reading was stored by the platform."""
        return cls(ok=frozenset(range(len(batch))))

    @classmethod
    def all_retry(cls, batch: Batch, reason: str, not_before: datetime | None = None) -> SendResult:
        """Nothing was stored; try again after backoff, and not before ``not_before``."""
        return cls(retry=frozenset(range(len(batch))), reason=reason, not_before=not_before)

    @classmethod
    def all_rejected(cls, batch: Batch, reason: str) -> SendResult:
        """The platform refused every reading as invalid: dead-letter them with ``reason``."""
        return cls(rejected=dict.fromkeys(range(len(batch)), reason), reason=reason)

    @classmethod
    def in_progress(cls, reason: str, not_before: datetime, requested: bool = True) -> SendResult:
        """A multi-step delivery is under way; call ``send`` with this batch again later.

        Not a failure: no backoff grows and no error is recorded. ``requested=False``:
        no request was made this time, so a rate-limit window is not used up.
        """
        return cls(pending=True, reason=reason, not_before=not_before, requested=requested)

    @classmethod
    def halted(cls, reason: str) -> SendResult:
        """The platform refused the credential itself (a wrong token): stop sending with it.

        The readings stay queued; the error shows in ``wattbridge status`` and the log,
        and sending resumes only after a restart (with, presumably, a fixed config).
        """
        return cls(halt=True, reason=reason)

    @classmethod
    def partial(
        cls,
        ok: Iterable[int] = (),
        retry: Iterable[int] = (),
        rejected: Mapping[int, str] | None = None,
        reason: str = "",
        not_before: datetime | None = None,
        requested: bool = True,
    ) -> SendResult:
        """A per-reading account; readings left out were not sent and stay queued.

        ``requested=False`` says no request reached the platform (all were refused
        locally), so the credential's rate-limit window is not used up.
        """
        return cls(
            ok=frozenset(ok),
            retry=frozenset(retry),
            rejected=dict(rejected or {}),
            reason=reason,
            not_before=not_before,
            requested=requested,
        )


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


@runtime_checkable
class Sink(Protocol):
    """A sink plugin's instance."""

    limits: SinkLimits

    def send(self, batch: Batch) -> SendResult:
        """Deliver ``batch`` (or part of it) and say what became of each reading.

        Raising counts as a retry of the whole batch with the exception as the reason.
        """
        ...

    # Optional methods, looked up with getattr: open(), close(), credential(reading)
    # -> str (a per-credential rate limit's key), and check(): try the credentials
    # against the platform once, for set-up forms; raise PermissionError for a refused
    # credential, OSError (ConnectionError, TimeoutError) when it cannot be reached.


def credential_of(sink: object, reading: Reading) -> str:
    """The rate-limit credential a sink assigns a reading ("" when it has none)."""
    method = getattr(sink, "credential", None)
    return method(reading) if method is not None else ""
