"""The long format: a header, then one row a reading, with a timestamp column, a stream
column and a value column (and optionally a unit column); other columns are ignored.
"""

from __future__ import annotations

from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.cells import (
    ValueReader,
    check_headers,
    check_width,
)
from wattbridge_plugins.sources.csv_folder.formats.rows import RowsParser
from wattbridge_plugins.sources.csv_folder.formats.values import (
    RowProblem,
    epoch_us,
    timestamp_parser,
)
from wattbridge_plugins.sources.csv_folder.lines import FileProblem
from wattbridge_plugins.sources.csv_folder.localtimes import LocalTimes
from wattbridge_plugins.sources.csv_folder.rowtypes import Cell, HeaderParser


def header_parser(config: CsvFolderConfig) -> HeaderParser:
    """Parse a long file's header into a row parser."""
    values = ValueReader(config)
    units = config.units

    def parse_header(fields: list[str], line: int, times: LocalTimes) -> RowsParser:
        while len(fields) > 1 and not fields[-1].strip():
            fields = fields[:-1]
        check_headers(fields, line)
        names = [name.strip() for name in fields]
        wanted = {
            "timestamp_column": config.timestamp_column,
            "stream_column": config.stream_column,
            "value_column": config.value_column,
        }
        if config.unit_column:
            wanted["unit_column"] = config.unit_column
        missing = [f"{key} = {header!r}" for key, header in wanted.items() if header not in names]
        if missing:
            raise FileProblem(line, f"header: no column for {', '.join(missing)} (have {names!r})")
        time_index = names.index(config.timestamp_column)
        stream_index = names.index(config.stream_column)
        value_index = names.index(config.value_column)
        unit_index = names.index(config.unit_column) if config.unit_column else None
        width = len(fields)
        parse_time = timestamp_parser(config, times)

        def parse_row(row: list[str]) -> list[Cell]:
            check_width(row, width)
            stream = row[stream_index].strip()
            if not stream:
                raise RowProblem("the stream cell is empty")
            times.edge = False
            # Keyed by stream: the streams' rows of the repeated hour may interleave.
            timestamp = epoch_us(parse_time(row[time_index], stream))
            value = values(stream, row[value_index])
            if value is None:
                return []
            unit = row[unit_index].strip() if unit_index is not None else ""
            cells: list[Cell] = [(stream, timestamp, value, unit or units.get(stream, ""))]
            if times.edge:
                times.claim(cells)
            return cells

        return RowsParser(parse_row, times, 1)

    return parse_header
