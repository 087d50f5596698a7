"""The import files the energydata-batch sink writes from a batch's columns, read back
with the format's own reader: one row a millisecond, in order, each datastream's last
value of that millisecond in its column, nothing else. Batches are drawn as a file's
rows come back from the outbox (whole rows, cut anywhere at both ends) and then
disturbed, so that both ways of laying out rows are taken."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wattbridge import ReadingColumns
from wattbridge_plugins.common.energydata_csv import (
    StreamType,
    iter_records,
    parse_header,
    parse_timestamp,
    parse_value,
)
from wattbridge_plugins.sinks.energydata.batch.plan import lay_out, write_part

TYPES: dict[str, StreamType] = {"a": "double", "b": "double", "c": "double", "i": "integer"}


@st.composite
def batches(draw: st.DrawFn) -> list[list[Any]]:
    """[stream, epoch µs, value] of rows of a file, cut and disturbed."""
    columns = draw(st.permutations(list(TYPES)))[: draw(st.integers(1, 4))]
    base = draw(st.integers(0, 10**15))
    step = draw(st.sampled_from([1, 999, 1000, 1500, 60_000_000]))
    items: list[list[Any]] = []
    for row in range(draw(st.integers(0, 8))):
        for column in columns:
            if column == "i":
                value: float = float(draw(st.integers(-5, 5)))
            else:
                value = draw(st.floats(allow_nan=False, allow_infinity=False, width=32))
            items.append([column, base + row * step, value])
    low = draw(st.integers(0, len(items)))
    items = items[low : draw(st.integers(low, len(items)))]
    for _ in range(draw(st.integers(0, 2))):
        if not items:
            break
        # Mostly near the ends, where a cut row meets the whole ones.
        ends = st.sampled_from([0, 1, len(items) - 2, len(items) - 1]).filter(
            lambda i: 0 <= i < len(items)
        )
        at = draw(ends | st.integers(0, len(items) - 1))
        change = draw(st.sampled_from(["drop", "shift", "repeat", "swap", "rename"]))
        if change == "drop":
            del items[at]
        elif change == "shift":
            items[at][1] += draw(st.sampled_from([1, -1, 999, step, -step]))
        elif change == "repeat":
            items.insert(at, [*items[at][:2], float(draw(st.integers(-9, 9)))])
        elif change == "swap" and at + 1 < len(items):
            items[at], items[at + 1] = items[at + 1], items[at]
        elif change == "rename":
            items[at][0] = draw(st.sampled_from(["a", "b", "c"]))  # doubles take any value
    return items


@settings(max_examples=600, deadline=None)
@given(batches())
def test_an_import_file_holds_each_datastreams_last_value_of_each_millisecond(
    tmp_path_factory: Any, items: list[list[Any]]
) -> None:
    batch = ReadingColumns.of(
        [stream for stream, _, _ in items],
        [stamp for _, stamp, _ in items],
        [value for _, _, value in items],
    )
    layout = lay_out(batch, TYPES)
    assert layout.rejected == {}  # every value fits its datastream
    wanted: dict[int, dict[str, Any]] = {}
    for stream, stamp, value in items:
        wanted.setdefault(stamp // 1000, {})[stream] = value  # later ones win
    if not items:
        assert layout.parts == {}
        return
    (columns,) = layout.parts.values()
    assert columns == list(dict.fromkeys(stream for stream, _, _ in items))
    path = Path(tmp_path_factory.mktemp("part")) / "part.csv"
    rows = write_part(path, columns, batch, layout.members["numbers"], TYPES)
    with path.open(encoding="utf-8", newline="") as handle:
        records = list(iter_records(handle, str(path)))
    assert parse_header(records[0][1], "header") == columns
    found: dict[int, dict[str, Any]] = {}
    for _line, fields, _quoted in records[1:]:
        cells = zip(columns, fields[1:], strict=True)
        row = {column: parse_value(text, TYPES[column]) for column, text in cells if text}
        found[parse_timestamp(fields[0])] = row
    assert list(found) == sorted(wanted)  # strictly increasing, one row a millisecond
    assert found == wanted
    assert rows == len(wanted) == len(records) - 1
