"""Type names shared by the formats and the importer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wattbridge_plugins.sources.csv_folder.localtimes import LocalTimes

Cell = tuple[str, datetime, int | float | str, str]
"""One reading-to-be: (stream, UTC timestamp, value, unit), already checked so that
:class:`wattbridge.Reading` accepts it. The check pass stops at cells (building readings
is a third of the parsing time); the emit pass turns them into readings."""

RowParser = Callable[[list[str]], list[Cell]]
"""One record's fields -> the cells of that row (raises RowProblem for a bad row)."""

HeaderParser = Callable[[list[str], int, "LocalTimes"], RowParser]
"""The header record's fields and line, and the pass's local-time decisions -> the row
parser (raises FileProblem)."""
