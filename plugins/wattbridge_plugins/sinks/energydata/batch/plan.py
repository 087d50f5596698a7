"""Turning a batch of readings into import files ("parts").

Rules, from the platform's documentation:

- Readings of several datastreams at one timestamp share a row; rows are strictly
  increasing, so the batch (in queue order) is sorted by time. The platform keeps
  milliseconds: a timestamp's finer part is dropped, and when one (datastream,
  millisecond) occurs twice in a batch the later reading wins, as it would on the
  platform.
- An empty field means "no value" for a number but "an empty string" for a string.
  So a string datastream cannot share rows with others unless it has a value in
  every row. We keep it simple and exact: the integer and double datastreams share
  one file, and each string datastream gets a file of its own (every row of which
  has its value). A batch is therefore at most 1 + (string datastreams) imports.
- A reading for a datastream not in the config, or whose value does not fit its
  type, is rejected with the reason; it never fails the file.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from pathlib import Path

import attrs

from wattbridge import ReadingColumns, Value, private_file
from wattbridge_plugins.common.energydata_csv import (
    StreamType,
    ValueMismatch,
    check_value,
    format_value,
    write_file,
)

NUMERIC_PART = "numbers"


@attrs.define
class Layout:
    """Where each reading of a batch (by its position) goes: its part, or why it was
    refused. A part's rows are its readings' timestamps in milliseconds."""

    rejected: dict[int, str]
    members: dict[str, list[int]]  # part key -> positions of its readings, in queue order
    parts: dict[str, list[str]]  # part key -> columns, in order of first appearance


def part_key(stream: str, kind: StreamType) -> str:
    """The part a datastream's readings go to."""
    return NUMERIC_PART if kind != "string" else f"string:{stream}"


def lay_out(batch: ReadingColumns, types: Mapping[str, StreamType]) -> Layout:
    """Decide each reading's part (no file is written)."""
    streams, values = batch.streams, batch.values
    # A batch holds few datastreams and many readings each: look each one up once.
    kinds = {stream: types.get(stream) for stream in dict.fromkeys(streams)}
    if all(kind == "double" for kind in kinds.values()) and set(map(type, values)) <= {float}:
        # The common batch: doubles only (finite, as every reading's float is), all in
        # the one numeric part, its columns in order of first appearance.
        if not streams:
            return Layout({}, {}, {})
        return Layout({}, {NUMERIC_PART: list(range(len(streams)))}, {NUMERIC_PART: list(kinds)})
    layout = Layout({}, {}, {})
    rejected, members, parts = layout.rejected, layout.members, layout.parts
    for index, (stream, value) in enumerate(zip(streams, values, strict=True)):
        kind = kinds[stream]
        if kind is None:
            rejected[index] = (
                f"datastream {stream!r} is not in this sink's datastreams table; "
                "add it with its type"
            )
            continue
        # A finite float fits a double: the common case skips the general check.
        if not (kind == "double" and type(value) is float and math.isfinite(value)):
            try:
                check_value(value, kind)
            except ValueMismatch as exc:
                rejected[index] = f"datastream {stream!r}: {exc}"
                continue
        key = part_key(stream, kind)
        columns = parts.get(key)
        if columns is None:
            columns = parts[key] = [stream]
            members[key] = []
        elif stream not in columns:
            columns.append(stream)
        members[key].append(index)
    return layout


def write_part(
    path: Path,
    columns: list[str],
    batch: ReadingColumns,
    members: Sequence[int],
    types: Mapping[str, StreamType],
) -> int:
    """Write the import file of the part of ``columns`` whose readings are the batch's
    ``members``; fsync it; return its row count."""
    integers = {stream for stream in columns if types[stream] == "integer"}
    if len(members) == len(batch):  # all of it (the members are distinct): nothing to pick
        streams, stamps, values = batch.streams, batch.stamps, batch.values
    else:
        streams = [batch.streams[index] for index in members]
        stamps = [batch.stamps[index] for index in members]
        values = [batch.values[index] for index in members]
    texts = _texts(streams, values, integers)
    rows = _whole_rows(columns, streams, stamps, texts)
    if rows is None:
        table = _row_table(columns, streams, stamps, texts)
        rows = ((epoch_ms, table[epoch_ms]) for epoch_ms in sorted(table))
    tmp = private_file(path.with_suffix(".tmp"))
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        count = write_file(handle, columns, rows)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    return count


def _row_table(
    columns: list[str], streams: list[str], stamps: list[int], texts: list[str]
) -> dict[int, list[str]]:
    """Each row's fields by its epoch ms, reading by reading (any order, any gaps)."""
    position = {stream: i for i, stream in enumerate(columns)}
    width = len(columns)
    rows: dict[int, list[str]] = {}
    fields: list[str] = []
    last_ms = None
    for stamp, stream, text in zip(stamps, streams, texts, strict=True):
        # The platform keeps milliseconds: the finer part is dropped (floor, as to_ms).
        epoch_ms = stamp // 1000
        if epoch_ms != last_ms:  # a row's readings come together: look it up once
            found = rows.get(epoch_ms)
            if found is None:
                found = rows[epoch_ms] = [""] * width
            fields, last_ms = found, epoch_ms
        # Later readings overwrite earlier ones: queue order.
        fields[position[stream]] = text
    return rows


def _whole_rows(
    columns: list[str], streams: list[str], stamps: list[int], texts: list[str]
) -> Iterable[tuple[int, Sequence[str]]] | None:
    """The rows in order, as :func:`_row_table` would give them, when the readings are
    whole rows but for a part of one at each end: each column once a row, in one order,
    at one instant, rows increasing (how a file's rows come back from the outbox). Each
    check and the rows' fields are builtins over the whole part. None otherwise."""
    width = len(columns)
    first_ms = stamps[0] // 1000 if stamps else 0
    start = 1  # the first reading of the first whole row
    while start < min(width, len(stamps)) and stamps[start] // 1000 == first_ms:
        start += 1
    count = (len(stamps) - start) // width
    if count < 2:
        return None
    end = start + count * width
    order = streams[start : start + width]
    if sorted(order) != sorted(columns) or streams[start:end] != order * count:
        return None
    instants = stamps[start:end:width]
    if any(stamps[start + offset : end : width] != instants for offset in range(1, width)):
        return None
    row_ms = [stamp // 1000 for stamp in instants]
    if not all(map(operator.lt, row_ms, row_ms[1:])):
        return None
    head = _row_table(columns, streams[:start], stamps[:start], texts[:start])
    tail = _row_table(columns, streams[end:], stamps[end:], texts[end:])
    if any(ms >= row_ms[0] for ms in head) or any(ms <= row_ms[-1] for ms in tail):
        return None
    by_column = (texts[start + order.index(column) : end : width] for column in columns)
    fields = zip(*by_column, strict=True)
    return chain(sorted(head.items()), zip(row_ms, fields, strict=True), sorted(tail.items()))


def _texts(streams: list[str], values: list[Value], integers: set[str]) -> list[str]:
    """Each value's field, as :func:`format_value` writes it (a whole float of an
    integer datastream as the integer it is; lay_out checked it is whole)."""
    if not integers and set(map(type, values)) <= {float, int}:
        return list(map(repr, values))  # format_value's form of a number, without its call
    return [
        format_value(int(value) if stream in integers else value)
        if type(value) is float
        else format_value(value)
        for stream, value in zip(streams, values, strict=True)
    ]
