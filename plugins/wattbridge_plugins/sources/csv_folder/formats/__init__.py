"""The file layouts the csv-folder source reads.

Each format turns the header record into a row parser: a function from one record's
fields to the readings of that row, raising
:class:`~wattbridge_plugins.sources.csv_folder.formats.values.RowProblem` for a bad row.
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
from wattbridge_plugins.sources.csv_folder.formats.values import RowProblem
from wattbridge_plugins.sources.csv_folder.formats.wide import header_parser as wide_header
from wattbridge_plugins.sources.csv_folder.rowtypes import HeaderParser, RowParser

_FORMATS: dict[str, Callable[[CsvFolderConfig], HeaderParser]] = {
    "energydata": energydata_header,
    "wide": wide_header,
    "long": long_header,
}


def header_parser(config: CsvFolderConfig) -> HeaderParser:
    """The configured format's header parser: ``(fields, line) -> row parser``."""
    return _FORMATS[config.format](config)


__all__ = ["HeaderParser", "RowParser", "RowProblem", "header_parser"]
