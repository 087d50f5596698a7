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

import math
import operator
from collections.abc import Sequence
from itertools import chain, compress, repeat

from wattbridge import Value
from wattbridge_plugins.common.energydata_csv import (
    INT64_MAX,
    INT64_MIN,
    NUMBER_CHARS,
    StampReader,
    parse_value,
)
from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.cells import check_headers, check_width
from wattbridge_plugins.sources.csv_folder.formats.rows import Parsed, RowsParser
from wattbridge_plugins.sources.csv_folder.formats.values import RowProblem
from wattbridge_plugins.sources.csv_folder.lines import FileProblem
from wattbridge_plugins.sources.csv_folder.localtimes import LocalTimes
from wattbridge_plugins.sources.csv_folder.rowtypes import Cell, HeaderParser


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


def number_column(texts: Sequence[str]) -> Sequence[Value | None] | None:
    """The values of a number stream's cells, None for each empty one, as :func:`value`
    reads them; or None if one of them is not a number (:func:`value` tells which).

    A column of doubles or of integers is read by builtins over the whole column: its
    characters checked at once (those of the platform's numbers only: no blanks, no
    underscores, no nan or inf), then float or int of each, then finite or 64-bit. A
    column mixing the two goes cell by cell."""
    present = list(filter(None, texts))
    if not present:
        return [None] * len(texts)
    joined = "".join(present)
    if joined.strip(NUMBER_CHARS):
        return None  # a character no number of the platform's has
    # A cell is an integer when its digits (after a sign) are all there is, as value()
    # decides; more than one sign is caught by int() below. As many points as cells
    # (the common column of doubles) means none is: a cell without one would leave
    # another with two, which float() refuses.
    doubles = joined.count(".") == len(present)
    integers = [] if doubles else list(map(str.isdecimal, map(str.lstrip, present, repeat("+-"))))
    numbers: Sequence[Value]
    try:
        if doubles or not any(integers):
            floats = list(map(float, present))
            if not math.isfinite(sum(floats)):
                return None  # one is not finite, or they only add up to more than a double
            numbers = floats
        elif all(integers):
            ints = list(map(int, present))
            if min(ints) < INT64_MIN or max(ints) > INT64_MAX:
                return None
            numbers = ints
        else:
            numbers = [parse_value(text, "integer" if whole else "double")
                       for text, whole in zip(present, integers, strict=True)]  # fmt: skip
    except ValueError:
        return None
    if len(present) == len(texts):
        return numbers
    found = iter(numbers)
    return [next(found) if text else None for text in texts]


def header_parser(config: CsvFolderConfig) -> HeaderParser:
    """Parse the ``;id;topic;...`` header into a parser of rows."""
    strings = frozenset(config.strings)
    units = config.units

    def parse_header(fields: list[str], line: int, times: LocalTimes) -> RowsParser:
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

        names = [stream for _index, stream, _is_text, _unit in columns]
        unit_names = [unit for _index, _stream, _is_text, unit in columns]

        def read_columns(rows: list[list[str]]) -> Parsed | None:
            # Only a chunk whose every row is good: any doubt, and parse_row decides.
            if set(map(len, rows)) != {width}:
                return None
            cells = list(zip(*rows, strict=True))
            try:
                moments = list(map(stamps.epoch_us, cells[0]))
            except ValueError:
                return None
            found: list[Sequence[Value | None]] = []
            for index, _stream, is_text, _unit in columns:
                numbers = cells[index] if is_text else number_column(cells[index])
                if numbers is None:
                    return None
                found.append(numbers)
            count = len(columns)
            # Row by row, each row's streams in header order, as parse_row gives them.
            values = list(chain.from_iterable(zip(*found, strict=True)))
            at = list(chain.from_iterable(zip(*repeat(moments, count), strict=True)))
            streams = names * len(rows)
            units = unit_names * len(rows)
            if None in values:  # empty number cells: no reading
                keep = list(map(operator.is_not, values, repeat(None)))
                values = list(compress(values, keep))
                at = list(compress(at, keep))
                streams = list(compress(streams, keep))
                units = list(compress(units, keep))
            return Parsed(streams, at, values, units, len(rows), [])

        return RowsParser(parse_row, times, len(columns), read_columns)

    return parse_header
