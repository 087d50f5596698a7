"""``wattbridge import``'s reader hands its chunks over as checked columns: each cell
read as the format's one reading (``parse_value``) reads it, the row refused with its
line when one cell is, and the columns such that the checking constructor takes them
unchanged (they are built without it)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge import DataError, ReadingColumns
from wattbridge_plugins.common.energydata_csv import StreamType, parse_timestamp, parse_value
from wattbridge_plugins.sinks.energydata.batch.importer import read_chunks

STAMPS = ["2021-03-10T20:24:30.139Z", "2021-03-10T20:24:31.000Z", "2021-03-10T21:24:32+01:00"]
# Plain numbers (a file of doubles' every row), and what a row of them must not let by.
cells = st.sampled_from(
    ["12.5", " 12.5", "1,5", "1e3", "-0", "+7", "nan", "inf", "1_0", "", "x", "1e308", "1e309"]
) | st.from_regex(r"\A[-+]?[0-9]{0,4}(\.[0-9]{0,3})?([eE][-+]?[0-9]{1,3})?\Z")
kinds: st.SearchStrategy[StreamType] = st.sampled_from(["double", "double", "integer", "string"])


def _expected(
    rows: list[list[str]], types: dict[str, StreamType]
) -> tuple[list[tuple[str, int, Any]], int | None]:
    """What the format's one reading makes of the rows, cell by cell: the readings up
    to the first row it refuses, and that row's line (None when it takes them all)."""
    columns = list(types)
    found: list[tuple[str, int, Any]] = []
    for line, row in enumerate(rows, start=2):
        epoch_us = parse_timestamp(row[0]) * 1000
        readings = []
        for column, text in zip(columns, row[1:], strict=True):
            kind = types[column]
            if text == "":
                if kind == "string":
                    readings.append((column, epoch_us, ""))
                continue
            try:
                readings.append((column, epoch_us, parse_value(text, kind)))
            except ValueError:
                return found, line
        found += readings
    return found, None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(kinds, min_size=1, max_size=3),
    st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=6),
    st.integers(1, 4),
)
def test_chunks_are_the_cells_as_parse_value_reads_them_and_checked_columns(
    tmp_path_factory: Any, column_kinds: list[StreamType], cell_rows: list[list[str]], chunk: int
) -> None:
    types = {f"s{i}": kind for i, kind in enumerate(column_kinds)}
    rows = [
        [STAMPS[number % len(STAMPS)], *cells_of_row[: len(types)]]
        for number, cells_of_row in enumerate(cell_rows)
    ]
    path = tmp_path_factory.mktemp("chunks") / "in.csv"
    lines = [";" + ";".join(types), *(";".join(row) for row in rows)]
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    expected, bad_line = _expected(rows, types)
    got: list[tuple[str, int, Any]] = []
    counts: list[int] = []
    try:
        for rows_read, columns in read_chunks(path, types, chunk_rows=chunk):
            again = ReadingColumns(
                columns.streams, columns.stamps, columns.values, columns.units, columns.sources
            )
            assert again == columns  # the checks it skipped would have passed
            got += zip(columns.streams, columns.stamps, columns.values, strict=True)
            counts.append(rows_read)
    except DataError as exc:
        assert bad_line is not None, f"refused {exc}, which the format takes"
        assert exc.where == f"{path}:{bad_line}"
        # The rows before it, and only those, are handed over, and counted as read.
        assert got == expected
        assert all(count <= bad_line - 2 for count in counts)
        return
    assert bad_line is None, f"accepted line {bad_line}, which the format refuses"
    assert got == expected
    assert [type(value) for *_, value in got] == [type(value) for *_, value in expected]
    assert counts[-1] == len(rows)
