"""The file layouts the csv-folder source reads.

Each format turns the header record into a
:class:`~wattbridge_plugins.sources.csv_folder.formats.rows.RowsParser`: a chunk of
records to their readings as columns and the bad rows, built on a row parser that
raises :class:`~wattbridge_plugins.sources.csv_folder.formats.values.RowProblem` for a
bad row (and, for the energydata format, a reader of whole columns).
A header that cannot be read raises
:class:`~wattbridge_plugins.sources.csv_folder.lines.FileProblem`: the file fails whole.
"""

from __future__ import annotations

from collections.abc import Callable

from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.energydata import (
    header_parser as energydata_header,
)
from wattbridge_plugins.sources.csv_folder.formats.long import header_parser as long_header
from wattbridge_plugins.sources.csv_folder.formats.rows import RowsParser
from wattbridge_plugins.sources.csv_folder.formats.values import RowProblem
from wattbridge_plugins.sources.csv_folder.formats.wide import header_parser as wide_header
from wattbridge_plugins.sources.csv_folder.rowtypes import HeaderParser, RowParser

_FORMATS: dict[str, Callable[[CsvFolderConfig], HeaderParser]] = {
    "energydata": energydata_header,
    "wide": wide_header,
    "long": long_header,
}


def header_parser(config: CsvFolderConfig) -> HeaderParser:
    """The configured format's header parser: ``(fields, line, times) -> rows parser``."""
    return _FORMATS[config.format](config)


__all__ = ["HeaderParser", "RowParser", "RowProblem", "RowsParser", "header_parser"]
