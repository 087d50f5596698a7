"""The wide format: a header, then one row an instant with a timestamp column and one
column a stream, as meter and utility exports are laid out. Which column holds the
timestamp, which columns are streams (and their names and units), the delimiter, the
decimal mark and the timestamp's format and zone are all configured.
"""

from __future__ import annotations

from wattbridge_plugins.sources.csv_folder.config import ColumnSpec, CsvFolderConfig
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
    """Parse a wide file's header into a row parser."""
    values = ValueReader(config)
    wanted: dict[str, ColumnSpec] = {
        header: spec if isinstance(spec, ColumnSpec) else ColumnSpec(stream=spec)
        for header, spec in config.columns.items()
    }

    def parse_header(fields: list[str], line: int, times: LocalTimes) -> RowsParser:
        while len(fields) > 1 and not fields[-1].strip():
            fields = fields[:-1]  # a trailing delimiter
        check_headers(fields, line)
        names = [name.strip() for name in fields]
        if config.timestamp_column not in names:
            raise FileProblem(
                line,
                f"header: no timestamp column {config.timestamp_column!r} "
                f"(the columns are {names!r}); set timestamp_column",
            )
        time_index = names.index(config.timestamp_column)
        columns: list[tuple[int, str, str]] = []
        if wanted:
            missing = [header for header in wanted if header not in names]
            if missing:
                raise FileProblem(
                    line, f"header: no column {', '.join(map(repr, missing))} (have {names!r})"
                )
            for header, spec in wanted.items():
                stream = spec.stream or header
                unit = spec.unit or config.units.get(stream, "")
                columns.append((names.index(header), stream, unit))
        else:
            for index, name in enumerate(names):
                if index == time_index:
                    continue
                if not name:
                    raise FileProblem(line, f"header: column {index + 1} has no name")
                columns.append((index, name, config.units.get(name, "")))
        if not columns:
            raise FileProblem(line, "header: no stream columns besides the timestamp")
        width = len(fields)
        parse_time = timestamp_parser(config, times)

        def parse_row(row: list[str]) -> list[Cell]:
            check_width(row, width)
            times.edge = False
            # One key for the whole row: its twin in the repeated hour is the next row
            # with the same time, whichever cells it leaves empty.
            timestamp = epoch_us(parse_time(row[time_index], ""))
            readings: list[Cell] = []
            for index, stream, unit in columns:
                try:
                    value = values(stream, row[index])
                except RowProblem as exc:
                    raise RowProblem(f"column {names[index]!r}: {exc}") from None
                if value is not None:
                    readings.append((stream, timestamp, value, unit))
            if times.edge:
                times.claim(readings)
            return readings

        return RowsParser(parse_row, times, len(columns))

    return parse_header
