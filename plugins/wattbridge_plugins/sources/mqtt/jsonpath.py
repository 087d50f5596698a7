"""A small JSON path: enough to pick one value out of a device's JSON message.

Accepted: ``ENERGY.Power`` (Tasmota), ``$.a.b[0]``, ``["key with.dot"].x``, ``a[-1]``.
A leading ``$`` is optional; ``.name`` picks a key, ``[n]`` an item of a list (negative
counts from the end), ``["name"]`` or ``['name']`` a key that holds dots or brackets.
Nothing else (no wildcards, no filters): one path names one value.
"""

from __future__ import annotations

import re
from typing import Any

Step = str | int

_TOKEN = re.compile(
    r"""
    \.?(?P<name>[^.\[\]'"]+)          # .name or a bare name
  | \[(?P<index>-?\d+)\]              # [0]
  | \[(?P<quote>['"])(?P<key>.*?)(?P=quote)\]   # ["key"] or ['key']
    """,
    re.VERBOSE,
)


class PathError(ValueError):
    """A path is malformed, or names something a message does not have."""


def parse(path: str) -> tuple[Step, ...]:
    """The steps of ``path``; raises :class:`PathError` naming the bad position."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise PathError(f"path {path!r}: cannot read {text[position:]!r}")
        if match.group("name") is not None:
            steps.append(match.group("name"))
        elif match.group("index") is not None:
            steps.append(int(match.group("index")))
        else:
            steps.append(match.group("key"))
        position = match.end()
    if not steps:
        raise PathError(f"path {path!r} names nothing")
    return tuple(steps)


def pick(data: Any, steps: tuple[Step, ...]) -> Any:
    """The value ``steps`` lead to in ``data``; raises :class:`PathError` if absent."""
    current = data
    for depth, step in enumerate(steps):
        if isinstance(step, int):
            if not isinstance(current, list):
                raise PathError(f"{_where(steps, depth)} is not a list")
            if not -len(current) <= step < len(current):
                raise PathError(f"{_where(steps, depth)} has no item [{step}]")
            current = current[step]
        else:
            if not isinstance(current, dict):
                raise PathError(f"{_where(steps, depth)} is not an object")
            if step not in current:
                raise PathError(f"{_where(steps, depth)} has no key {step!r}")
            current = current[step]
    return current


def _where(steps: tuple[Step, ...], depth: int) -> str:
    return "the message" if depth == 0 else f"$.{format_path(steps[:depth])}"


def format_path(steps: tuple[Step, ...]) -> str:
    """A path text for ``steps`` (for messages)."""
    out = ""
    for step in steps:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else step)
    return out
