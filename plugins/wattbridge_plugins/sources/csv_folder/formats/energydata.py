"""EnergyData.dk's import format: header ``;<id or topic>;...`` (the first cell empty),
then one row an instant: a UTC timestamp (``2021-03-10T20:24:30.139Z``) and a value for
each datastream. An empty cell is "" for a text stream and no value for a number one.
"""

from __future__ import annotations

from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.cells import (
    ValueReader,
    check_headers,
    check_width,
)
from wattbridge_plugins.sources.csv_folder.formats.values import utc_timestamp
from wattbridge_plugins.sources.csv_folder.lines import FileProblem
from wattbridge_plugins.sources.csv_folder.rowtypes import Cell, HeaderParser, RowParser


def header_parser(config: CsvFolderConfig) -> HeaderParser:
    """Parse the ``;id;topic;...`` header into a row parser."""
    values = ValueReader(config)
    units = config.units

    def parse_header(fields: list[str], line: int) -> RowParser:
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
            (index, stream, units.get(stream, "")) for index, stream in enumerate(streams, 1)
        ]
        width = len(fields)

        def parse_row(row: list[str]) -> list[Cell]:
            check_width(row, width)
            timestamp = utc_timestamp(row[0])
            readings: list[Cell] = []
            for index, stream, unit in columns:
                value = values(stream, row[index])
                if value is not None:
                    readings.append((stream, timestamp, value, unit))
            return readings

        return parse_row

    return parse_header
