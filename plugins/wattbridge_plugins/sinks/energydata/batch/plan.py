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
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

from wattbridge import Reading, private_file
from wattbridge_plugins.common.energydata_csv import (
    StreamType,
    ValueMismatch,
    check_value,
    format_value,
    to_ms,
    write_file,
)

NUMERIC_PART = "numbers"


@attrs.define
class Layout:
    """Where each reading of a batch goes: its part and row, or why it was refused."""

    rejected: dict[int, str]
    placed: dict[int, tuple[str, int]]  # reading index -> (part key, epoch ms)
    parts: dict[str, list[str]]  # part key -> columns, in order of first appearance


def part_key(stream: str, kind: StreamType) -> str:
    """The part a datastream's readings go to."""
    return NUMERIC_PART if kind != "string" else f"string:{stream}"


def lay_out(readings: Sequence[Reading], types: Mapping[str, StreamType]) -> Layout:
    """Decide each reading's part and row (no file is written)."""
    layout = Layout({}, {}, {})
    rejected, placed, parts = layout.rejected, layout.placed, layout.parts
    # A batch holds few datastreams and many readings each, and the readings of one
    # row share an instant: look each datastream up once, convert each instant once.
    known: dict[str, tuple[str, StreamType]] = {}
    last_moment = None
    epoch_ms = 0
    for index, reading in enumerate(readings):
        stream = reading.stream
        found = known.get(stream)
        if found is None:
            kind = types.get(stream)
            if kind is None:
                rejected[index] = (
                    f"datastream {stream!r} is not in this sink's datastreams table; "
                    "add it with its type"
                )
                continue
            found = known[stream] = (part_key(stream, kind), kind)
        key, kind = found
        value = reading.value
        # A finite float fits a double: the common case skips the general check.
        if not (kind == "double" and type(value) is float and math.isfinite(value)):
            try:
                check_value(value, kind)
            except ValueMismatch as exc:
                rejected[index] = f"datastream {stream!r}: {exc}"
                continue
        columns = parts.get(key)
        if columns is None:
            columns = parts[key] = [stream]
        elif stream not in columns:
            columns.append(stream)
        moment = reading.timestamp
        if moment != last_moment:
            epoch_ms = to_ms(moment)
            last_moment = moment
        placed[index] = (key, epoch_ms)
    return layout


def write_part(
    path: Path,
    columns: list[str],
    readings: Sequence[Reading],
    placed: Mapping[int, tuple[str, int]],
    key: str,
    types: Mapping[str, StreamType],
) -> int:
    """Write the import file of part ``key``; fsync it; return its row count."""
    position = {stream: i for i, stream in enumerate(columns)}
    integers = {stream for stream in columns if types[stream] == "integer"}
    width = len(columns)
    rows: dict[int, list[str]] = {}
    for index, (part, epoch_ms) in placed.items():
        if part != key:
            continue
        reading = readings[index]
        fields = rows.get(epoch_ms)
        if fields is None:
            fields = rows[epoch_ms] = [""] * width
        # Later readings overwrite earlier ones: dicts keep insertion (queue) order.
        value = reading.value
        if type(value) is float:
            if reading.stream in integers:
                value = int(value)  # lay_out checked it is whole
            text = repr(value)  # format_value's own form for a number, without its call
        else:
            text = format_value(value)
        fields[position[reading.stream]] = text
    tmp = private_file(path.with_suffix(".tmp"))
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        count = write_file(handle, columns, ((ts, rows[ts]) for ts in sorted(rows)))
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    return count
