"""Finds the line of a table or key in TOML text, for error messages.

tomllib gives values but no positions; this scans the text once for table headers
and ``key =`` lines. It is best-effort: when a key is not found on a line of its own
(an inline table, a dotted key) the table's line is given, else nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_\-]+))\s*=""")

TablePath = tuple[str | int, ...]


def _split_dotted(name: str) -> list[str]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', name)
    return [a or b or c for a, b, c in parts]


class TomlLines:
    """Line numbers (1-based) of the tables and keys in one TOML text."""

    def __init__(self, text: str) -> None:
        self._tables: dict[TablePath, int] = {}
        self._keys: dict[tuple[TablePath, str], int] = {}
        array_counts: dict[tuple[str, ...], int] = {}
        current: TablePath = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                names = tuple(_split_dotted(header.group(2)))
                if header.group(1) == "[[":
                    index = array_counts.get(names, 0)
                    array_counts[names] = index + 1
                    current = (*names, index)
                else:
                    current = names
                self._tables.setdefault(current, number)
                continue
            key = _KEY.match(line)
            if key:
                name = key.group(1) or key.group(2) or key.group(3)
                self._keys.setdefault((current, name), number)
                # An inline table `house = {...}` under [sources] stands for [sources.house].
                self._tables.setdefault((*current, name), number)

    def line_of(self, table: Sequence[str | int], key: str | None = None) -> int | None:
        """The line of ``key`` in ``table``, else of the table itself, else None."""
        path = tuple(table)
        if key is not None and (path, key) in self._keys:
            return self._keys[(path, key)]
        return self._tables.get(path)
