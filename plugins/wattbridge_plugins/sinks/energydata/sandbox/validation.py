"""How the sandbox checks and ingests an uploaded import file: every documented rule.

The rules (from the platform's batch-import text): RFC 4180 with ``;``; UTF-8; a
header ``;<id or topic>;...`` naming datastreams the importer may write; timestamps
``YYYY-MM-DDTHH:mm:ss.SSSZ``, strictly increasing; every value of its datastream's
type; an empty field is an empty string for a string datastream and no value for a
number. Errors name the line (the physical line a record starts on; the header is 1).

``errors_limit`` is read as the platform's name suggests: up to that many bad lines
are tolerated (reported, and skipped at ingestion); one more and the import fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from wattbridge_plugins.sinks.energydata.sandbox.csvrules import (
    FileError,
    format_ms,
    header,
    records,
    timestamp,
    value,
)
from wattbridge_plugins.sinks.energydata.sandbox.store import Datastream, Store, TokenInfo

MAX_REPORTED_ERRORS = 100


@attrs.define
class Outcome:
    """What a validation found."""

    ok: bool
    errors: list[dict[str, Any]]
    datastreams: list[int]
    validated_lines: int
    min_ts: str | None
    max_ts: str | None


def _lines(path: Path) -> Iterator[str]:
    # Decoded line by line, so a bad byte is reported with its line.
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FileError(number, f"not UTF-8: {exc.reason}") from None


def _header(
    path: Path, store: Store, info: TokenInfo
) -> tuple[list[Datastream], list[dict[str, Any]]]:
    try:
        first = next(records(_lines(path)), None)
    except FileError as exc:
        return [], [{"line": 1, "message": exc.message}]
    if first is None:
        return [], [{"line": 1, "message": "the file is empty; it needs a header"}]
    try:
        names = header(first.fields)
    except ValueError as exc:
        return [], [{"line": 1, "message": str(exc)}]
    columns: list[Datastream] = []
    errors: list[dict[str, Any]] = []
    for name in names:
        stream = store.resolve(name)
        if stream is None:
            errors.append(
                {"line": 1, "datastream": name, "message": f"unknown datastream {name!r}"}
            )
        elif not info.may_write(stream.id):
            errors.append(
                {
                    "line": 1,
                    "datastream": name,
                    "message": f"no write access to datastream {name!r}",
                }
            )
        else:
            columns.append(stream)
    if len({c.id for c in columns}) != len(columns):
        errors.append({"line": 1, "message": "a datastream appears twice (by id and by topic)"})
    return columns, errors


def _rows(path: Path, columns: list[Datastream]) -> Iterator[tuple[int, Any, str | None]]:
    """(line, (epoch ms, [(ds, value)]) or None, error or None) for each data record."""
    rows = records(_lines(path))
    try:
        next(rows)
        previous = -(2**63)
        width = len(columns) + 1
        for record in rows:
            line, fields = record.line, record.fields
            if len(fields) != width:
                yield line, None, f"expected {width} fields, found {len(fields)}"
                continue
            try:
                epoch_ms = timestamp(fields[0])
            except ValueError as exc:
                yield line, None, str(exc)
                continue
            if epoch_ms <= previous:
                yield (
                    line,
                    None,
                    f"timestamp {fields[0]} is not after the previous row's; "
                    "rows must be strictly increasing",
                )
                continue
            previous = epoch_ms
            values: list[tuple[int, Any]] = []
            bad = None
            for column, text in zip(columns, fields[1:], strict=True):
                if text == "":  # quoted or not: RFC 4180 quoting carries no meaning
                    if column.type == "string":
                        values.append((column.id, ""))
                    continue
                try:
                    values.append((column.id, value(text, column.type)))
                except ValueError as exc:
                    bad = f"datastream {column.topic} ({column.type}): {exc}"
                    break
            if bad:
                yield line, None, bad
            else:
                yield line, (epoch_ms, values), None
    except FileError as exc:
        yield exc.line, None, exc.message
    except UnicodeDecodeError as exc:
        yield -1, None, f"not UTF-8: {exc.reason}"


def validate(path: Path, store: Store, info: TokenInfo, errors_limit: int) -> Outcome:
    """Check the file at ``path`` as the import of the holder of ``info``."""
    try:
        columns, errors = _header(path, store, info)
    except UnicodeDecodeError as exc:
        errors, columns = [{"line": 1, "message": f"not UTF-8: {exc.reason}"}], []
    if errors:
        return Outcome(False, errors, [], 0, None, None)
    good = 0
    first: int | None = None
    last: int | None = None
    last_line = 1
    for line, row, error in _rows(path, columns):
        if error is not None:
            # A decoding error (line -1) is somewhere after the last good record.
            errors.append({"line": line if line > 0 else last_line + 1, "message": error})
            if len(errors) > max(errors_limit, MAX_REPORTED_ERRORS - 1):
                break
            continue
        assert row is not None
        last_line = line
        good += 1
        if first is None:
            first = row[0]
        last = row[0]
    return Outcome(
        len(errors) <= errors_limit,
        errors,
        [c.id for c in columns],
        good,
        format_ms(first) if first is not None else None,
        format_ms(last) if last is not None else None,
    )


def ingest(path: Path, store: Store, info: TokenInfo, skip: set[int]) -> int:
    """Store the file's values (skipping lines in ``skip``); return the rows ingested."""
    columns, errors = _header(path, store, info)
    if errors:
        raise ValueError(errors[0]["message"])
    ingested = 0
    pending: list[tuple[int, int, Any]] = []
    for line, row, error in _rows(path, columns):
        if error is not None or line in skip or row is None:
            continue
        epoch_ms, values = row
        pending.extend((ds, epoch_ms, value) for ds, value in values)
        ingested += 1
        if len(pending) >= 50_000:
            store.store_values(pending)
            pending = []
    store.store_values(pending)
    return ingested
