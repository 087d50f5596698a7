"""Type names shared by the formats and the importer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wattbridge_plugins.sources.csv_folder.formats.rows import RowsParser
    from wattbridge_plugins.sources.csv_folder.localtimes import LocalTimes

Cell = tuple[str, int, int | float | str, str]
"""One reading-to-be: (stream, epoch microseconds UTC, value, unit), already checked so
that :class:`wattbridge.ReadingColumns` accepts it. The check pass stops at cells; the
emit pass lays a chunk's cells out as columns (no ``Reading`` object a value)."""

RowParser = Callable[[list[str]], list[Cell]]
"""One record's fields -> the cells of that row (raises RowProblem for a bad row)."""

HeaderParser = Callable[[list[str], int, "LocalTimes"], "RowsParser"]
"""The header record's fields and line, and the pass's local-time decisions -> the
parser of runs of rows (raises FileProblem)."""
