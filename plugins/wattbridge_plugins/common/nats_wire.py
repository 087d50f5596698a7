"""The one reader and writer of a NATS message's readings, shared by the ``nats`` sink
(which writes them) and the ``nats`` source (which reads them, from any publisher).

A message is JSON: ``{"readings": [[stream, epoch_us, value, unit, source], ...]}``,
timestamps as whole microseconds since the Unix epoch (exact, as the outbox keeps them).
Reading it validates every field as :class:`wattbridge.Reading` does; a bad message is
a :class:`wattbridge.DataError` naming where it came from and which item is wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from wattbridge import DataError, InvalidReading, Reading

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = -62135596800 * 1_000_000  # 0001-01-01, datetime's first day
_MAX_US = 253402300799 * 1_000_000  # 9999-12-31T23:59:59


def encode(readings: Sequence[Reading]) -> bytes:
    """The message body for ``readings``."""
    rows = [[r.stream, r.epoch_us, r.value, r.unit, r.source] for r in readings]
    return json.dumps({"readings": rows}, ensure_ascii=False, separators=(",", ":")).encode()


def message_id(subject: str, body: bytes) -> str:
    """The ``Nats-Msg-Id`` of a message: its subject and body's digest, so the same
    readings sent again (a retry after a lost ack) are the same message to JetStream."""
    digest = hashlib.blake2b(body, digest_size=16, person=b"wattbridge-nats")
    digest.update(subject.encode())
    return digest.hexdigest()


def decode(body: bytes, where: str) -> list[Reading]:
    """The readings of a message body; :class:`DataError` (naming ``where`` and the item)
    for anything that is not :func:`encode`'s form with valid readings."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DataError(where, f"not JSON: {exc}") from None
    if not isinstance(data, dict) or set(data) != {"readings"}:
        raise DataError(where, 'expected an object with one key, "readings"')
    rows = data["readings"]
    if not isinstance(rows, list):
        raise DataError(where, '"readings" must be a list')
    return [_reading(row, f"{where}, reading {index}") for index, row in enumerate(rows)]


def _reading(row: Any, where: str) -> Reading:
    if not isinstance(row, list) or len(row) != 5:
        raise DataError(where, "expected [stream, epoch_us, value, unit, source]")
    stream, epoch_us, value, unit, source = row
    if not isinstance(epoch_us, int) or isinstance(epoch_us, bool):
        raise DataError(where, f"epoch_us must be an integer, not {epoch_us!r}")
    if not _MIN_US <= epoch_us <= _MAX_US:
        raise DataError(where, f"epoch_us {epoch_us} is outside the years 1 to 9999")
    for name, text in (("stream", stream), ("unit", unit), ("source", source)):
        if not isinstance(text, str):
            raise DataError(where, f"{name} must be a string, not {text!r}")
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        raise DataError(where, f"value must be a number or a string, not {value!r}")
    try:
        return Reading(stream, _EPOCH + timedelta(microseconds=epoch_us), value, unit, source)
    except (InvalidReading, ValueError, TypeError) as exc:
        raise DataError(where, str(exc)) from None
