"""The delivery bookkeeping an outbox keeps in its state table, under one set of names.

Delivery writes it, the runtime adds "cannot open" errors, ``wattbridge status`` and
the Home Assistant sensors read it; this module is the only one that knows the keys:

- ``backoff:<credential>``: failures in a row and when the next try is due;
- ``ratelimit:<credential>``: when the last request with the credential went out;
- ``halted:<credential>``: why the platform refused the credential (until a restart);
- ``last_success``, ``last_error``, ``last_error_at``: for status.

``<credential>`` is "" for a sink without per-credential limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol

import attrs

_BACKOFF = "backoff:"
_RATELIMIT = "ratelimit:"
_HALTED = "halted:"
_LAST_SUCCESS = "last_success"
_LAST_ERROR = "last_error"
_LAST_ERROR_AT = "last_error_at"

Updates = dict[str, str | None]
"""State keys to write in one transaction (None deletes)."""


class StateTable(Protocol):
    """The outbox's durable key-value table, as delivery state needs it."""

    def get_state(self, key: str) -> str | None:
        """A stored value, or None."""
        ...

    def set_states(self, values: dict[str, str | None]) -> None:
        """Store several values in one transaction (None deletes)."""
        ...

    def pop_prefixed(self, prefix: str) -> dict[str, str]:
        """Delete and return every key starting with ``prefix``, in one transaction."""
        ...


@attrs.frozen
class Retrying:
    """A credential's failures in a row and when (epoch seconds) it may try again;
    ``at`` is when that was decided (0: unknown, from an older state table)."""

    failures: int = 0
    next_at: float = 0.0
    at: float = 0.0


@attrs.frozen
class DeliverySummary:
    """What status shows of a sink's delivery."""

    last_success: float | None
    last_error: str | None
    last_error_at: float | None
    halted: str | None
    next_attempt_at: float | None


class DeliveryState:
    """Reads and writes one outbox's delivery bookkeeping (see the module doc)."""

    def __init__(self, table: StateTable) -> None:
        self._table = table

    # -- reading ---------------------------------------------------------------

    def retrying(self, credential: str) -> Retrying:
        """The credential's backoff (no failures when it has none)."""
        raw = self._table.get_state(_BACKOFF + credential)
        if not raw:
            return Retrying()
        data = json.loads(raw)
        return Retrying(int(data["failures"]), float(data["next"]), float(data.get("at", 0.0)))

    def halted(self, credential: str) -> str | None:
        """Why sending with the credential stopped, or None."""
        return self._table.get_state(_HALTED + credential)

    def last_request(self, credential: str) -> str | None:
        """When the last request with the credential went out, as stored (or None)."""
        return self._table.get_state(_RATELIMIT + credential)

    # -- writing ---------------------------------------------------------------

    def request_made(self, credential: str, at: float) -> None:
        """Record a request's time. Written before it goes out: a crash mid-send must not
        let a restart send again inside the platform's window."""
        self._table.set_states({_RATELIMIT + credential: repr(at)})

    def request_not_made(self, credential: str, previous: str | None) -> None:
        """Undo :meth:`request_made`: put back the time of the request before it."""
        self._table.set_states({_RATELIMIT + credential: previous})

    def halt(self, credential: str, reason: str, at: float) -> None:
        """Stop sending with the credential until a restart."""
        self._table.set_states(
            {_HALTED + credential: reason, _LAST_ERROR: reason, _LAST_ERROR_AT: repr(at)}
        )

    def wait(self, credential: str, until: float, at: float) -> None:
        """A delivery in progress (decided at ``at``): try again at ``until`` without
        counting a failure."""
        retrying = self.retrying(credential)
        self._set_retrying(credential, Retrying(retrying.failures, until, at))

    def reschedule(self, credential: str, retrying: Retrying) -> None:
        """Replace the credential's backoff (keeping the last error)."""
        self._set_retrying(credential, retrying)

    def failed(self, credential: str, retrying: Retrying, reason: str, at: float) -> None:
        """A failed attempt: the new backoff and the error status shows."""
        self._table.set_states(
            {
                _BACKOFF + credential: _encode(retrying),
                _LAST_ERROR: reason,
                _LAST_ERROR_AT: repr(at),
            }
        )

    def error(self, message: str, at: float) -> None:
        """An error that is not a send's (the sink cannot open), for status."""
        self._table.set_states({_LAST_ERROR: message, _LAST_ERROR_AT: repr(at)})

    @staticmethod
    def succeeded(credential: str, at: float) -> Updates:
        """The updates for a delivery that stored readings: to write with the ack, in the
        same transaction, so a crash never leaves acked readings with a stale backoff."""
        return {_LAST_SUCCESS: repr(at), _BACKOFF + credential: None}

    def lift_halts(self) -> list[str]:
        """Forget halted credentials (a restart is when sending with them resumes);
        returns the reasons they were halted for."""
        return list(self._table.pop_prefixed(_HALTED).values())

    def _set_retrying(self, credential: str, retrying: Retrying) -> None:
        self._table.set_states({_BACKOFF + credential: _encode(retrying)})

    # -- status ----------------------------------------------------------------

    @staticmethod
    def summarize(state: Mapping[str, str]) -> DeliverySummary:
        """Status's view of a whole state table (read in one go by the outbox)."""
        backoffs = [json.loads(v)["next"] for k, v in state.items() if k.startswith(_BACKOFF)]
        halted = "; ".join(
            f"{key[len(_HALTED) :] or 'all'}: {value}"
            for key, value in state.items()
            if key.startswith(_HALTED)
        )
        return DeliverySummary(
            last_success=_float(state.get(_LAST_SUCCESS)),
            last_error=state.get(_LAST_ERROR),
            last_error_at=_float(state.get(_LAST_ERROR_AT)),
            halted=halted or None,
            next_attempt_at=max(backoffs) if backoffs else None,
        )


def _encode(retrying: Retrying) -> str:
    return json.dumps({"failures": retrying.failures, "next": retrying.next_at, "at": retrying.at})


def _float(value: str | None) -> float | None:
    return float(value) if value is not None else None
