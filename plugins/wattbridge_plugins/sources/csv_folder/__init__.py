"""The ``csv-folder`` source: CSV files dropped into a folder, every row delivered, bad
files explained. See README.md in this folder."""

from __future__ import annotations

from typing import Any

from wattbridge import hookimpl
from wattbridge_plugins.sources.csv_folder.config import ColumnSpec, CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.source import CsvFolderSource


@hookimpl
def wattbridge_register_sources(register: Any) -> None:
    """Register the ``csv-folder`` source."""
    register("csv-folder", CsvFolderSource, CsvFolderConfig)


__all__ = ["ColumnSpec", "CsvFolderConfig", "CsvFolderSource", "wattbridge_register_sources"]
