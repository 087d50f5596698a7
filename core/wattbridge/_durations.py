"""Durations as people write them in a config file: "10s", "5m", "1h30m", "250ms"."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | int | float) -> timedelta:
    """Parse "10s", "5m", "1h", "1h30m", "250ms", "2d" (or a number of seconds).

    Raises ValueError with a message that shows the accepted forms.
    """
    if isinstance(text, bool):
        raise ValueError(f'{text!r} is not a duration; write it as "10s", "5m" or "1h"')
    if isinstance(text, int | float):
        if text < 0:
            raise ValueError(f"duration {text} is negative")
        return timedelta(seconds=text)
    cleaned = text.strip().replace(" ", "")
    position = 0
    total = timedelta()
    for match in _PART.finditer(cleaned):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(cleaned) or not cleaned:
        raise ValueError(
            f'{text!r} is not a duration; write it as "10s", "5m", "1h", "1h30m" or "250ms"'
        )
    return total


def format_duration(value: timedelta) -> str:
    """The shortest of parse_duration's forms for a duration (for messages and status)."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms % 1000:
        return f"{total_ms}ms"
    seconds = total_ms // 1000
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"
