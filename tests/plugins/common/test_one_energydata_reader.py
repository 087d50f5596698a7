"""The csv-folder source's ``energydata`` format and ``wattbridge import`` read the same
file the same way: whatever cells hypothesis writes, both take them as the same
moments and values, or both refuse the row (issue #11: ` 12.5` and `+01:00` used to
pass one reader and fail the other)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from wattbridge import DataError
from wattbridge_plugins.sinks.energydata.batch.importer import read_chunks
from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.energydata import header_parser
from wattbridge_plugins.sources.csv_folder.localtimes import local_times

timestamps = st.sampled_from(
    [
        "2021-03-10T20:24:30.139Z",
        "2021-03-10T20:24:30Z",
        "2021-03-10T21:24:30.139+01:00",
        "2021-03-10 20:24:30.139000+00:00",
        "2021-03-10T20:24:30.139",
        " 2021-03-10T20:24:30.139Z",
        "2021-02-30T20:24:30.139Z",
        "2021-03-10T20:24:30.139+0100",
        "yesterday",
    ]
) | st.from_regex(
    r"\A20[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?(Z|[+-][01][0-9]:[0-5][0-9])?\Z"
)
numbers = st.sampled_from(
    ["12.5", " 12.5", "12.5 ", "1,5", "1e3", "-0", "+7", "nan", "inf", "", "x"]
) | st.from_regex(r"\A[-+ ]?[0-9]{0,4}(\.[0-9]{0,3})?([eE][-+]?[0-9]{1,3})?\Z")


def _via_import(path: Path) -> list[tuple[int, float]] | str:
    try:
        chunks = list(read_chunks(path, {"s": "double"}))
    except DataError:
        return "refused"
    return [
        (ts // 1000, float(v))
        for _rows, chunk in chunks
        for ts, v in zip(chunk.stamps, chunk.values, strict=True)
    ]


def _via_csv_folder(stamp: str, cell: str) -> list[tuple[int, float]] | str:
    config = CsvFolderConfig(inbox=Path("in"))
    parse = header_parser(config)(["", "s"], 1, local_times(config, deciding=True))
    parsed = parse([[stamp, cell]], [2])
    if parsed.bad:
        return "refused"
    return [(t // 1000, float(v)) for t, v in zip(parsed.stamps, parsed.values, strict=True)]


@given(timestamps, numbers)
def test_both_readers_take_and_refuse_the_same_cells(
    tmp_path_factory: object, stamp: str, cell: str
) -> None:
    path = Path(str(tmp_path_factory.mktemp("f"))) / "f.csv"  # type: ignore[attr-defined]
    path.write_text(f";s\r\n{stamp};{cell}\r\n", encoding="utf-8")
    assert _via_import(path) == _via_csv_folder(stamp, cell)
