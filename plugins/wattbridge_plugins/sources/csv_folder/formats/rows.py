"""Parsing a run of rows at once: the readings as columns, and the rows that were bad.

Both passes of an import read rows a chunk at a time through :class:`RowsParser`. Every
format has a row parser (one row's fields to its cells, or :class:`RowProblem`), which
the chunk runs row by row in file order (local times need that order). A format may
also have a *columns* reader: the whole chunk column by column with builtins that run in
C, taking only a chunk in which every row is good and giving exactly the readings the
row parser would, in the same order; for anything else it answers None and the row
parser finds and names the bad rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from wattbridge import Value
from wattbridge_plugins.sources.csv_folder.formats.values import RowProblem
from wattbridge_plugins.sources.csv_folder.rowtypes import Cell, RowParser

if TYPE_CHECKING:
    from wattbridge_plugins.sources.csv_folder.localtimes import LocalTimes


@attrs.frozen
class Parsed:
    """The readings of a run of rows as columns (in row order, each row's streams in
    header order), how many rows were good, and the bad ones as (line, reason)."""

    streams: list[str]
    stamps: list[int]
    values: list[Value]
    units: list[str]
    rows: int
    bad: list[tuple[int, str]]

    @classmethod
    def of_cells(cls, cells: list[Cell], rows: int, bad: list[tuple[int, str]]) -> Parsed:
        """The columns of ``cells``."""
        if not cells:
            return cls([], [], [], [], rows, bad)
        streams, stamps, values, units = zip(*cells, strict=True)
        return cls(list(streams), list(stamps), list(values), list(units), rows, bad)


ColumnsReader = Callable[[list[list[str]]], Parsed | None]
"""A chunk's rows -> their readings if every row is good, else None."""


@attrs.frozen
class RowsParser:
    """A file's parser of a run of rows, made by its format from the header."""

    parse_row: RowParser
    times: LocalTimes
    width: int
    """The most readings one row gives (how many rows make a chunk of readings)."""
    columns: ColumnsReader | None = None

    def __call__(self, rows: list[list[str]], lines: list[int]) -> Parsed:
        """The readings of ``rows`` (their fields; ``lines`` are where each starts)."""
        if self.columns is not None:
            parsed = self.columns(rows)
            if parsed is not None:
                return parsed
        cells: list[Cell] = []
        bad: list[tuple[int, str]] = []
        times = self.times
        parse = self.parse_row
        for fields, line in zip(rows, lines, strict=True):
            times.line = line
            try:
                cells += parse(fields)
            except RowProblem as exc:
                bad.append((line, str(exc)))
        return Parsed.of_cells(cells, len(rows) - len(bad), bad)
