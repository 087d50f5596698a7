"""EnergyData.dk's import format: header ``;<id or topic>;...`` (the first cell empty),
then one row an instant: a UTC timestamp (``2021-03-10T20:24:30.139Z``) and a value for
each datastream. An empty cell is "" for a text stream and no value for a number one.

Timestamps and values are read by ``common/energydata_csv``, the reading that
``wattbridge import`` uses too, so a file this format takes is one the import takes
and the platform's rules allow: ``Z`` timestamps only (an offset such as ``+01:00`` is
refused, as the platform does), numbers as the platform writes them (no blanks, no
decimal comma). A file in another shape belongs to the ``wide`` or ``long`` format.
"""

from __future__ import annotations

from wattbridge_plugins.common.energydata_csv import StampReader, parse_value
from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.cells import check_headers, check_width
from wattbridge_plugins.sources.csv_folder.formats.values import RowProblem
from wattbridge_plugins.sources.csv_folder.lines import FileProblem
from wattbridge_plugins.sources.csv_folder.localtimes import LocalTimes
from wattbridge_plugins.sources.csv_folder.rowtypes import Cell, HeaderParser, RowParser


def value(text: str, is_text: bool, stream: str) -> int | float | str | None:
    """A cell's value: text for a ``strings`` stream; for a number stream an integer
    or a double as the platform reads them, None for an empty cell."""
    if is_text:
        return text
    if text == "":
        return None
    # An integer is what INTEGER_RE takes ([-+]?\d+, \d being any decimal digit, as
    # str.isdecimal's); asked this way it costs a tenth of the regular expression.
    digits = text[1:] if text[0] in "+-" else text
    try:
        return parse_value(text, "integer" if digits.isdecimal() else "double")
    except ValueError as exc:
        raise RowProblem(
            f"{stream}: {exc} (list the stream in `strings` if it holds text)"
        ) from None


def header_parser(config: CsvFolderConfig) -> HeaderParser:
    """Parse the ``;id;topic;...`` header into a row parser."""
    strings = frozenset(config.strings)
    units = config.units

    def parse_header(fields: list[str], line: int, _times: LocalTimes) -> RowParser:
        while len(fields) > 1 and not fields[-1].strip():
            fields = fields[:-1]  # a trailing delimiter
        if len(fields) < 2 or fields[0].strip():
            raise FileProblem(
                line,
                "header: the EnergyData import format starts with an empty cell and then "
                f"the datastreams' ids or topics (';117217;my/topic'), not {fields[:3]!r}",
            )
        check_headers(fields, line)
        streams = [name.strip() for name in fields[1:]]
        for position, stream in enumerate(streams, start=2):
            if not stream:
                raise FileProblem(line, f"header: column {position} has no datastream id or topic")
        columns = [
            (index, stream, stream in strings, units.get(stream, ""))
            for index, stream in enumerate(streams, 1)
        ]
        width = len(fields)
        stamps = StampReader()

        def parse_row(row: list[str]) -> list[Cell]:
            check_width(row, width)
            try:
                moment = stamps.epoch_us(row[0])
            except ValueError as exc:
                raise RowProblem(str(exc)) from None
            readings: list[Cell] = []
            for index, stream, is_text, unit in columns:
                cell = value(row[index], is_text, stream)
                if cell is not None:
                    readings.append((stream, moment, cell, unit))
            return readings

        return parse_row

    return parse_header
