"""Reading EnergyData.dk CSV files into readings, and queueing them resumably.

A file's rows are queued in chunks; each chunk is one outbox transaction. Progress is
kept per file (by content hash) in the sink's durable state, so a rerun after Ctrl-C
or a kill neither queues a row twice nor skips one: before a chunk is put, the
intent is saved; the chunk's readings carry a source tag naming the file and chunk,
so after a crash the queue itself says whether that chunk made it in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from math import isfinite
from pathlib import Path
from typing import cast

import attrs

from wattbridge import DataError, ReadingColumns, Value
from wattbridge.commands import OpenedSink
from wattbridge_plugins.common.energydata_csv import (
    DOUBLE_RE,
    INTEGER_RE,
    NUMBER_CHARS,
    StampReader,
    StreamType,
    iter_records,
    parse_header,
    parse_value,
)

ByteCounter = Callable[[int], None]


def file_hash(path: Path) -> str:
    """SHA-256 of the file's content: the same file under another name is the same."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def guess_type(text: str) -> StreamType:
    """A column's type when the sink does not declare one."""
    if INTEGER_RE.fullmatch(text):
        return "integer"
    if DOUBLE_RE.fullmatch(text):
        return "double"
    return "string"


def _decoded(path: Path, counter: ByteCounter | None) -> Iterator[str]:
    pending = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if counter is not None:
                # Reported every 64 KiB, not every line: a progress update costs more
                # than reading the line.
                pending += len(raw)
                if pending >= 1 << 16:
                    counter(pending)
                    pending = 0
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{number}", f"not UTF-8: {exc.reason}") from None
    if counter is not None and pending:
        counter(pending)


def read_chunks(
    path: Path,
    types: Mapping[str, StreamType | None] | None,
    *,
    skip_rows: int = 0,
    chunk_rows: int = 20_000,
    on_bad: Callable[[DataError], None] | None = None,
    counter: ByteCounter | None = None,
) -> Iterator[tuple[int, ReadingColumns]]:
    """(rows read so far, the chunk's readings as columns) per chunk of data rows.

    The readings have no unit and no source (:class:`FileProgress` tags them). The
    first ``skip_rows`` data rows are passed over (already queued). A bad row raises
    :class:`DataError` naming the file and line, unless ``on_bad`` takes it (then the
    row is left out). ``types`` (column -> type) decides how values are read; a column
    it does not name is refused. Without ``types``, each value's type is guessed from
    its text.
    """
    records = iter_records(_decoded(path, counter), str(path))
    first = next(records, None)
    if first is None:
        raise DataError(f"{path}:1", "the file is empty; it needs a header ;<id>;...")
    columns = parse_header(first[1], f"{path}:1")
    if types is not None:
        unknown = [c for c in columns if c not in types]
        if unknown:
            raise DataError(
                f"{path}:1",
                f"column(s) {', '.join(unknown)} not in the sink's datastreams table",
            )
    kinds = [types[c] if types is not None else None for c in columns]
    reader = _ChunkReader(path, columns, kinds, on_bad)
    rows = 0
    lines: list[int] = []  # the chunk's rows: where each starts, and its fields
    cells: list[list[str]] = []
    while True:
        try:
            record = next(records, None)
        except DataError:
            # The good rows before broken quoting are queued first.
            yield from reader.chunk(rows, lines, cells)
            raise
        if record is None:
            break
        rows += 1
        if rows <= skip_rows:
            continue
        lines.append(record[0])
        cells.append(record[1])
        if rows % chunk_rows == 0:
            yield from reader.chunk(rows, lines, cells)
            lines, cells = [], []
    yield from reader.chunk(rows, lines, cells)


@attrs.frozen
class _ChunkReader:
    """Turns a chunk's rows into checked columns, one way or the other: the whole chunk
    at once when it is plain doubles (a file of doubles' every chunk), else row by row
    (a row of plain doubles at once, else field by field), which names a bad row."""

    path: Path
    columns: list[str]
    kinds: list[StreamType | None]
    on_bad: Callable[[DataError], None] | None
    doubles: bool = attrs.field(  # every column a double: a row may be read at once
        init=False,
        default=attrs.Factory(lambda self: all(k == "double" for k in self.kinds), takes_self=True),
    )
    stamp_reader: StampReader = attrs.field(init=False, factory=StampReader)

    def _epoch_us(self, text: str) -> int:
        """A timestamp's microseconds, cut to the millisecond (the platform's own
        resolution, as every import has kept them); ValueError saying why."""
        epoch_us = self.stamp_reader.epoch_us(text)
        return epoch_us - epoch_us % 1000

    def chunk(
        self, rows_after: int, lines: list[int], cells: list[list[str]]
    ) -> Iterator[tuple[int, ReadingColumns]]:
        """Yield (``rows_after``, the readings) of the chunk's rows, the last of which
        is data row ``rows_after``. A bad row raises its DataError after the readings
        before it are yielded (when there are some), unless ``on_bad`` takes it."""
        whole = self._plain_doubles_chunk(cells)
        if whole is not None:
            yield rows_after, whole
            return
        width = len(self.columns) + 1
        streams: list[str] = []
        stamps: list[int] = []
        values: list[Value] = []
        for number, (line, row) in enumerate(zip(lines, cells, strict=True)):
            mark = len(streams)
            try:
                if len(row) != width:
                    raise ValueError(f"expected {width} fields, found {len(row)}")
                epoch_us = self._epoch_us(row[0])
                fields = row[1:]
                numbers = _plain_doubles(fields) if self.doubles else None
                if numbers is not None:
                    streams += self.columns
                    stamps += [epoch_us] * len(numbers)
                    values += numbers
                    continue
                for column, kind, text in zip(self.columns, self.kinds, fields, strict=True):
                    value = _field_value(text, kind)
                    if value is not None:
                        streams.append(column)
                        stamps.append(epoch_us)
                        values.append(value)
            except ValueError as exc:
                del streams[mark:], stamps[mark:], values[mark:]  # none of a bad row's values
                error = DataError(f"{self.path}:{line}", str(exc))
                if self.on_bad is None:
                    # The good rows before it are queued first, as the message says.
                    if streams:
                        yield rows_after - len(cells) + number, _checked(streams, stamps, values)
                    raise error from None
                self.on_bad(error)
        yield rows_after, _checked(streams, stamps, values)

    def _plain_doubles_chunk(self, cells: list[list[str]]) -> ReadingColumns | None:
        """The chunk's readings when every row is whole, timestamped and plain doubles
        (each step a builtin over the whole chunk); None when any row needs a look."""
        width = len(self.columns) + 1
        if not self.doubles or not cells or any(len(row) != width for row in cells):
            return None
        fields = list(chain.from_iterable(cells))
        try:
            epoch_us = list(map(self._epoch_us, fields[::width]))
            del fields[::width]  # the values remain, row by row
            numbers = _plain_doubles(fields)
        except ValueError:
            return None
        if numbers is None:
            return None
        stamps = [0] * len(numbers)
        for column in range(width - 1):
            stamps[column :: width - 1] = epoch_us
        return _checked(self.columns * len(cells), stamps, cast(list[Value], numbers))


def _plain_doubles(fields: list[str]) -> list[float] | None:
    """The fields as doubles when every one is a plain finite number, as
    :func:`parse_value` reads them; None when any needs its closer look (an empty
    field, a stray character, an overflow), which then gives the verdict."""
    try:
        numbers = list(map(float, fields))
    except ValueError:
        return None
    # Only digits, signs, points and exponents in all of them; finite sum, finite each.
    if "".join(fields).strip(NUMBER_CHARS) or not isfinite(sum(numbers)):
        return None
    return numbers


def _field_value(text: str, kind: StreamType | None) -> Value | None:
    """One field's value for a column of type ``kind`` (None: guessed from the text);
    None for no value. ValueError, saying why, when it does not fit."""
    if text == "":
        # The platform's rule: empty is "" for a string, nothing for a number (quoted
        # or not: its own example client writes a missing number "").
        return "" if kind == "string" else None
    return parse_value(text, kind or guess_type(text))


def _checked(streams: list[str], stamps: list[int], values: list[Value]) -> ReadingColumns:
    """The chunk's columns, without a second check: every field was checked as it was
    read (names by parse_header, timestamps by StampReader, values by parse_value;
    decoded UTF-8 holds no lone surrogate), as the checking constructor would."""
    blank = [""] * len(streams)
    return ReadingColumns.trusted(streams, stamps, values, blank, blank)


class FileProgress:
    """How many data rows of one file (by content hash) are in the outbox for good."""

    def __init__(self, target: OpenedSink, digest: str, path: Path) -> None:
        self.target = target
        self.state = target.state
        self.key = f"import-file:{digest}"
        self.tag = f"import:{digest[:12]}"
        self.path = path
        data = json.loads(self.state.get(self.key) or "{}")
        self.rows: int = int(data.get("rows", 0))
        self.complete: bool = bool(data.get("complete", False))
        pending = data.get("pending")
        if pending:
            # A crash came between saving the intent and saving the result: the queue
            # itself says whether that chunk's transaction happened.
            tag = pending["tag"]
            landed = any(r.source == tag for r in target.queued())
            self.rows = int(pending["to"] if landed else pending["from"])
            self._save(None)

    def _save(self, pending: dict[str, object] | None) -> None:
        self.state.set(
            self.key,
            json.dumps(
                {
                    "rows": self.rows,
                    "complete": self.complete,
                    "pending": pending,
                    "name": str(self.path),
                }
            ),
        )

    def queue(self, rows_after: int, chunk: ReadingColumns) -> int:
        """Put one chunk's readings durably and record that the file's rows up to
        ``rows_after`` are queued; return how many readings were put."""
        tag = f"{self.tag}:{self.rows}"
        tagged = ReadingColumns.trusted(
            chunk.streams, chunk.stamps, chunk.values, chunk.units, [tag] * len(chunk)
        )
        self._save({"from": self.rows, "to": rows_after, "tag": tag})
        self.target.put(tagged)
        self.rows = rows_after
        self._save(None)
        return len(tagged)

    def finish(self) -> None:
        """Record that the whole file is queued."""
        self.complete = True
        self._save(None)
