"""Type names shared by the formats and the importer."""

from __future__ import annotations

from collections.abc import Callable

from wattbridge import Reading

RowParser = Callable[[list[str]], list[Reading]]
"""One record's fields -> the readings of that row (raises RowProblem for a bad row)."""

HeaderParser = Callable[[list[str], int], RowParser]
"""The header record's fields and line -> the row parser (raises FileProblem)."""
