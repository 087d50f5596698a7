"""Property tests of the readers, through the real importer (the code the source runs
for each file): generated files with known good and bad rows end exactly as they
should, and arbitrary bytes never raise; each file ends in done/ or in failed/ with a
report, unchanged."""

from __future__ import annotations

import csv as csvmodule
import io
import logging
import math
import os
import re
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wattbridge import Reading
from wattbridge._plugins import load_plugins
from wattbridge.testing import plugin_config
from wattbridge_plugins.common.energydata_csv import INTEGER_RE, parse_value
from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.formats.energydata import (
    header_parser as energydata_header,
)
from wattbridge_plugins.sources.csv_folder.formats.energydata import value as energydata_value
from wattbridge_plugins.sources.csv_folder.formats.values import RowProblem
from wattbridge_plugins.sources.csv_folder.importer import Importer, Outcome
from wattbridge_plugins.sources.csv_folder.ledger import Ledger
from wattbridge_plugins.sources.csv_folder.lines import LineReader, Record, Snapshot, records
from wattbridge_plugins.sources.csv_folder.localtimes import local_times

REGISTRY = load_plugins()
LOG = logging.getLogger("test.hypothesis")
SETTINGS = settings(
    max_examples=int(os.environ.get("CSV_FOLDER_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def import_once(data: bytes, **keys: Any) -> tuple[Outcome, list[Reading], Path, str]:
    """Import ``data`` as inbox/f.csv with a fresh ledger; (outcome, emitted, root, report)."""
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        inbox = root / "inbox"
        inbox.mkdir()
        (inbox / "f.csv").write_bytes(data)
        config = plugin_config(REGISTRY, "sources", "csv-folder", root, inbox=str(inbox), **keys)
        ledger = Ledger(root / "state" / "ledger.sqlite")
        emitted: list[Reading] = []
        try:
            importer = Importer(
                config, ledger, root / "state" / "spool", LOG, "t", threading.Event()
            )
            outcome = importer.run(inbox / "f.csv", emitted.extend)
            entries = ledger.all()
        finally:
            ledger.close()
        assert not (inbox / "f.csv").exists(), "a file was left in the inbox"
        report = ""
        if outcome is Outcome.FAILED:
            assert (inbox / "failed" / "f.csv").read_bytes() == data
            report = (inbox / "failed" / "f.csv.error.txt").read_text(encoding="utf-8")
            assert emitted == []
            assert [e.status for e in entries] == ["failed"]
        else:
            assert outcome is Outcome.DONE, outcome
            assert (inbox / "done" / "f.csv").read_bytes() == data
            skipped = inbox / "done" / "f.csv.error.txt"
            report = skipped.read_text(encoding="utf-8") if skipped.exists() else ""
            [entry] = entries
            assert entry.status == "done" and entry.readings == len(emitted)
        return outcome, emitted, root, report


def reported_lines(report: str) -> list[int]:
    return [int(m.group(1)) for m in re.finditer(r"^f\.csv:(\d+):", report, re.MULTILINE)]


# -- generated files with an oracle -----------------------------------------------------

moments = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda m: m.replace(microsecond=m.microsecond // 1000 * 1000))
numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
)
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
good_rows = st.tuples(st.just("good"), moments, st.one_of(st.none(), numbers), texts)
bad_rows = st.one_of(
    st.tuples(st.just("nan"), moments, st.sampled_from(["x", "1,5", "nan", "1e999", "--1"]), texts),
    st.tuples(
        st.just("time"),
        st.sampled_from(["", "yesterday", "2026-13-01T00:00:00Z", "2026-01-01T00:00:00"]),
        st.just(1),
        texts,
    ),
    st.tuples(st.just("short"), moments, st.just(1), st.just("")),
)


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, datetime, Any, str]], list[int]]:
    """A file in the energydata format: (bytes, expected readings, bad line numbers)."""
    rows = draw(st.lists(st.one_of(good_rows, good_rows, bad_rows), max_size=25))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    quoting = draw(st.sampled_from([csvmodule.QUOTE_MINIMAL, csvmodule.QUOTE_ALL]))
    if newline == "\n" and any("\r" in row[3] for row in rows):
        # Python's writer leaves a lone CR unquoted with "\n" line ends: not RFC 4180,
        # and read back as a line end. (That a bare CR is a bad row is tested below.)
        quoting = csvmodule.QUOTE_ALL
    out = io.StringIO()
    writer = csvmodule.writer(out, delimiter=";", lineterminator=newline, quoting=quoting)
    writer.writerow(["", "a", "t"])
    expected: list[tuple[str, datetime, Any, str]] = []
    bad: list[int] = []
    for kind, moment, value, text in rows:
        if draw(st.booleans()) and draw(st.booleans()):
            out.write(newline)  # a blank line
        line = out.getvalue().count("\n") + 1
        stamp = (
            moment
            if isinstance(moment, str)
            else moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        )
        if kind == "short":
            writer.writerow([stamp])
        else:
            cell = "" if value is None else repr(value) if not isinstance(value, str) else value
            writer.writerow([stamp, cell, text])
        if kind == "good":
            if value is not None:
                expected.append(("a", moment, value, ""))
            expected.append(("t", moment, text, ""))
        else:
            bad.append(line)
    data = out.getvalue().encode("utf-8")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data, expected, bad


def as_tuples(readings: list[Reading]) -> list[tuple[str, datetime, Any, str]]:
    return [(r.stream, r.timestamp, r.value, r.unit) for r in readings]


READ_SIZES = st.sampled_from([64, 100, 1 << 20])
"""Small reads put block boundaries inside lines, quoted fields and the BOM's line."""


@SETTINGS
@given(files(), READ_SIZES, st.sampled_from([1, 3, 5000]))
def test_skip_mode_delivers_exactly_the_good_rows_and_reports_exactly_the_bad(
    case, read_size, chunk
):
    data, expected, bad = case
    outcome, emitted, _root, report = import_once(
        data, strings=["t"], on_bad_row="skip", read_size=read_size, chunk=chunk
    )
    assert outcome is Outcome.DONE
    assert as_tuples(emitted) == expected
    assert reported_lines(report) == bad


@SETTINGS
@given(files(), READ_SIZES)
def test_reject_mode_is_all_or_nothing(case, read_size):
    data, expected, bad = case
    outcome, emitted, _root, report = import_once(data, strings=["t"], read_size=read_size)
    if bad:
        assert outcome is Outcome.FAILED
        assert reported_lines(report) == bad
    else:
        assert outcome is Outcome.DONE
        assert as_tuples(emitted) == expected


# -- anything at all ------------------------------------------------------------------

csvish = st.text(st.sampled_from(list(';,"\n\r\t x1.5-:TZ0é\x00\ufeff')), max_size=300)
headers = st.sampled_from([b"", b";a;b\n", b"timestamp;a\n", b"\xef\xbb\xbf;a\r\n"])


@SETTINGS
@given(
    st.one_of(
        st.binary(max_size=400),
        st.tuples(headers, csvish).map(lambda pair: pair[0] + pair[1].encode("utf-8")),
    ),
    st.sampled_from(["energydata", "wide", "long"]),
    st.sampled_from(["reject", "skip"]),
    READ_SIZES,
)
def test_arbitrary_bytes_never_crash_and_end_in_done_or_failed(data, fmt, mode, read_size):
    keys: dict[str, Any] = {"format": fmt, "on_bad_row": mode, "read_size": read_size}
    if fmt == "long":
        keys.update(stream_column="a", value_column="b")
    outcome, emitted, _root, report = import_once(data, **keys)
    if outcome is Outcome.FAILED:
        assert reported_lines(report) or "f.csv:0:" in report
    for reading in emitted:
        assert reading.timestamp.tzinfo is UTC
    # Readings are durable-safe: they survive the outbox's round trip.
    assert all(isinstance(r.value, (int, float, str)) for r in emitted)
    assert all(abs(r.value) < 2**63 for r in emitted if isinstance(r.value, int))


# -- where records end, and resuming there ---------------------------------------------


def line_end(data: bytes, line: int) -> int:
    """The byte offset just past line ``line`` (1-based) of ``data``."""
    position = 0
    for _ in range(line):
        found = data.find(b"\n", position)
        if found < 0:
            return len(data)
        position = found + 1
    return position


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=12),
            st.sampled_from([b"\n", b"\r\n", b'"', b";", "æø".encode(), b"\xe9", b"\xef\xbb\xbf"]),
        ),
        max_size=40,
    ).map(b"".join),
    st.booleans(),
    READ_SIZES,
)
def test_record_ends_are_exact_and_a_resume_there_reads_the_same_records(data, bom, read_size):
    if bom:
        data = b"\xef\xbb\xbf" + data
    with tempfile.TemporaryDirectory() as temp:
        path = Path(temp) / "f.csv"
        path.write_bytes(data)
        snapshot = Snapshot.of(path)
        lines = LineReader(snapshot, read_size)
        seen: list[tuple[Record, int, int]] = []
        for record in records(lines, ";", '"'):
            expected = line_end(data, lines.line)
            if bom and lines.line == 0:
                expected = 3
            assert lines.offset == expected
            seen.append((record, lines.offset, lines.line))
        # Resuming after any record reads exactly the records that followed it.
        for index, (_record, offset, line) in enumerate(seen):
            again = LineReader(snapshot, read_size, offset, line)
            rest = list(records(again, ";", '"'))
            assert rest == [entry[0] for entry in seen[index + 1 :]]


@given(st.text(alphabet="0123456789+-.eE _\u0663\u00b2x", max_size=6).filter(bool), st.booleans())
def test_energydata_numbers_are_integers_exactly_where_the_integer_pattern_says(text, is_text):
    """The energydata format tells an integer cell from a double without a regular
    expression; it takes and refuses exactly what INTEGER_RE's choice does."""

    def outcome(read):
        try:
            got = read()
        except RowProblem as exc:
            return f"refused: {exc}"
        return got, type(got)

    def by_pattern():
        if is_text:
            return text
        kind = "integer" if INTEGER_RE.fullmatch(text) else "double"
        try:
            return parse_value(text, kind)
        except ValueError as exc:
            raise RowProblem(f"s: {exc} (list the stream in `strings` if it holds text)") from None

    assert outcome(lambda: energydata_value(text, is_text, "s")) == outcome(by_pattern)


_doubles = st.one_of(
    st.from_regex(r"\A[-+]?[0-9]{1,4}\.[0-9]{0,3}([eE][-+]?[0-9]{1,2})?\Z"),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e308", "-0.0", "1E5", ".5"]),
)
_integers = st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str) | st.sampled_from(
    ["9223372036854775807", "-9223372036854775808", "+7", "-0", "007"]
)
_good_stamps = moments.map(lambda m: m.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")


def _good_rows(numbers: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    cells = st.just("") | numbers | numbers
    return st.tuples(_good_stamps, cells, texts, cells).map(list)


# One thing wrong in a chunk of good rows: what float() or int() take and the
# platform's numbers are not, past the 64-bit bounds, a timestamp, a row's width.
_bad_numbers = st.sampled_from(
    ["nan", "inf", "1e999", "-1e999", " 1", "1 ", "1_0", "\u0663", "--1", "+", ".", "1e",
     "9223372036854775808", "-9223372036854775809", "x"]
)  # fmt: skip
_bad_stamps = st.sampled_from(
    ["", "2026-13-01T00:00:00.000Z", "2026-01-01T24:00:00.000Z", "2026-01-01T00:00:60.000Z",
     "2026-01-01T00:00:00+01:00", "2026-01-01T00:00:00.000", "2026-01-01T00:00:00.0000Z"]
)  # fmt: skip


@st.composite
def _chunks(draw: st.DrawFn) -> tuple[list[list[list[str]]], bool]:
    """Chunks of good rows, and whether one cell of one was then made wrong."""
    # Columns of doubles, of integers (each read at once), or of both (cell by cell).
    numbers = draw(st.sampled_from([_doubles, _integers, _doubles | _integers]))
    rows = st.lists(_good_rows(numbers), min_size=1, max_size=12)
    chunks = draw(st.lists(rows, min_size=1, max_size=3))
    spoilt = draw(st.booleans())
    if spoilt:
        rows = draw(st.sampled_from(chunks))
        row = draw(st.sampled_from(rows))
        where = draw(st.sampled_from(["stamp", "number", "width"]))
        if where == "stamp":
            row[0] = draw(_bad_stamps)
        elif where == "number":
            row[draw(st.sampled_from([1, 3]))] = draw(_bad_numbers)
        else:
            row.extend(draw(st.sampled_from([["x"], [""], [" ", ""]])))
    return chunks, spoilt


@settings(max_examples=200, deadline=None)
@given(_chunks())
def test_the_energydata_columns_reader_gives_what_the_rows_give_or_leaves_it_to_them(case):
    """The whole-chunk reader of the energydata format takes a chunk only when every row
    is good, and then gives exactly the readings of the row-by-row parse, in order and
    with the same types; one parser reads several chunks, as in a file."""
    chunks, spoilt = case
    config = CsvFolderConfig(inbox=Path("in"), strings=["t"], units={"b": "kWh"})
    parse = energydata_header(config)(["", "a", "t", "b"], 1, local_times(config, deciding=True))
    assert parse.columns is not None
    by_rows = attrs.evolve(parse, columns=None)
    for rows in chunks:
        expected = by_rows(rows, list(range(2, 2 + len(rows))))
        got = parse.columns(rows)
        if got is None:
            # Left to the rows: a bad row, a row with trailing empty fields, or doubles
            # that only add up to more than a double holds.
            assert spoilt or _overflows(rows)
            continue
        assert expected.bad == [] and got.rows == expected.rows == len(rows)
        assert (got.streams, got.stamps, got.units) == (
            expected.streams,
            expected.stamps,
            expected.units,
        )
        assert [(type(v), repr(v)) for v in got.values] == [
            (type(v), repr(v)) for v in expected.values
        ]


def _overflows(rows: list[list[str]]) -> bool:
    """Whether a number column's doubles only add up to more than a double holds (the
    columns reader then leaves the chunk to the rows)."""
    for index in (1, 3):
        cells = [row[index] for row in rows if row[index]]
        try:
            if not math.isfinite(sum(map(float, cells))):
                return True
        except ValueError:
            pass
    return False
