"""Importing one file, also one that is still being written: identity, check, emit,
and, once the file is final, move. See the README for the story.

A file is followed as Fluent Bit's tail follows one: by its identity (device and
inode) and a byte offset in the ledger. Each run imports a *segment*: the complete
lines added since the last one (all of the file once it is final: idle for
``finished_after`` and held open for writing by no process /proc shows).

1. **Identify.** A file not followed yet is hashed; content the ledger has imported
   before goes to duplicates/ (``dedupe``); content whose rows were all emitted but
   which was not moved yet (a crash right before the move) goes straight to done/. A
   followed file must still hold the bytes already imported (its ``mark``): one
   truncated or rewritten under the import is read again from the start, as a new file.
2. **Check** every row of the segment in a first streaming pass, spooling bad lines
   to the state folder and deciding DST's repeated hour by the file's order
   (:mod:`.localtimes`). With ``on_bad_row = "reject"`` a segment with any bad row (or
   an unreadable header) moves the file to failed/ beside its report, and nothing of
   that segment was emitted: that is why the check is a pass of its own. In a file
   still being written, a repeated local time whose twin has not come yet ends the
   segment before it.
3. **Emit** the good rows of the segment in a second streaming pass, ``chunk``
   readings at a time. After each emit returns (the readings are durable in the
   outboxes) the ledger records the byte offset reached; a restart after a crash
   checks the segment again and resumes at that offset, so at most the last chunk is
   emitted twice (the platforms keep one value per stream and timestamp).
4. **Move** the final file to done/ (with the report of skipped rows, if any).

A file that vanishes or turns unreadable in the middle raises :class:`FileTrouble`: it
stays where it is, the ledger keeps what was queued, and it is tried again later.
"""

from __future__ import annotations

import enum
import logging
import math
import threading
from collections.abc import Callable, Container, Iterator
from pathlib import Path

import attrs

from wattbridge import Emit, ReadingColumns
from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.files import free_name, move
from wattbridge_plugins.sources.csv_folder.formats import header_parser
from wattbridge_plugins.sources.csv_folder.formats.rows import Parsed, RowsParser
from wattbridge_plugins.sources.csv_folder.ledger import Entry, Follow, Ledger
from wattbridge_plugins.sources.csv_folder.lines import (
    FileProblem,
    FileTrouble,
    LineReader,
    Record,
    Snapshot,
    content_hash,
    last_line_end,
    line_start,
    mark,
    records,
)
from wattbridge_plugins.sources.csv_folder.localtimes import LocalTimes, local_times
from wattbridge_plugins.sources.csv_folder.report import BadLines, now_text, write_report
from wattbridge_plugins.sources.csv_folder.rowtypes import HeaderParser
from wattbridge_plugins.sources.csv_folder.writers import held_for_writing

REPORT_SUFFIX = ".error.txt"
DUPLICATE_SUFFIX = ".duplicate.txt"


class Outcome(enum.Enum):
    """What became of a file."""

    DONE = "done"
    FAILED = "failed"
    DUPLICATE = "duplicate"
    RETRY = "retry"
    """Not finished (vanished, changed, unreadable): try again once stable."""
    STOPPED = "stopped"
    """Wattbridge is stopping; progress is saved."""
    FOLLOWING = "following"
    """Imported as far as it is complete; it stays, as it may still be written to."""


@attrs.define
class Importer:
    """Imports files for a csv-folder source, one run of one file at a time."""

    config: CsvFolderConfig
    ledger: Ledger
    spool_dir: Path
    log: logging.Logger
    source_name: str
    stop: threading.Event
    held_open: Callable[[Path], bool] = held_for_writing
    count: Callable[[str, int], None] = lambda _name, _n: None
    """The source's counters (``wattbridge status``): files done, times resolved."""
    _parse_header: HeaderParser = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._parse_header = header_parser(self.config)

    # -- the steps ---------------------------------------------------------------

    def run(self, path: Path, emit: Emit, idle: float = math.inf) -> Outcome:
        """Import what ``path`` holds now; ``idle`` is how long it has been unchanged.
        Raises :class:`wattbridge.Stopping` from ``emit``."""
        try:
            snapshot = Snapshot.of(path)
            follow = self._identify(path, snapshot)
            if isinstance(follow, Outcome):
                return follow
            final = idle >= self.config.finished_after.total_seconds() and not self.held_open(path)
            return self._segment(path, snapshot, follow, final, emit)
        except FileNotFoundError:
            self.log.warning("%s vanished before it could be read", path)
            return Outcome.RETRY
        except OSError as exc:
            self.log.warning("%s cannot be read: %s; will try again", path, exc.strerror or exc)
            return Outcome.RETRY
        except FileTrouble as exc:
            self.log.warning("%s; what was queued stays queued; will try again", exc)
            return Outcome.RETRY

    def _identify(self, path: Path, snapshot: Snapshot) -> Follow | Outcome:
        """The file's import in progress, a new one, or what became of known content."""
        follow = self.ledger.follow(snapshot.device, snapshot.inode)
        if follow is not None:
            changed = self._changed(snapshot, follow)
            if changed is None:
                return follow
            self.log.warning(
                "%s %s under the import; the %d row(s) queued stay queued; it is read "
                "again from the start as a new file",
                path,
                changed,
                follow.emitted,
            )
            self._discard_spool(follow)
            self.ledger.drop(follow)
        digest = content_hash(snapshot, self.config.read_size)
        entry = self.ledger.get(digest)
        if entry is not None and entry.status == "emitted":
            self.log.info("%s: every row was queued before a restart; moving it", path.name)
            return self._finish(path, digest, entry, None)
        if entry is not None and entry.status == "done" and self.config.dedupe:
            return self._duplicate(path, digest, entry)
        return self.ledger.begin(
            snapshot.device, snapshot.inode, path.name, snapshot.size, mark(snapshot, snapshot.size)
        )

    def _changed(self, snapshot: Snapshot, follow: Follow) -> str | None:
        """How a followed file changed other than by growing, or None."""
        if snapshot.size < follow.mark_length:
            return f"was truncated ({follow.mark_length} -> {snapshot.size} bytes)"
        if mark(snapshot, follow.mark_length) != follow.mark:
            return "was rewritten"
        return None

    def _segment(
        self, path: Path, snapshot: Snapshot, follow: Follow, final: bool, emit: Emit
    ) -> Outcome:
        """Check and emit the complete lines after the last segment; finish a final file."""
        end = snapshot.size if final else last_line_end(snapshot, follow.seg_offset)
        if end <= follow.seg_offset and not final:
            return Outcome.FOLLOWING
        segment = snapshot.upto(end)
        bad = BadLines(self._spool(follow, "segment"), path.name, self.config.report_limit)
        try:
            try:
                times, good, segment = self._check(segment, follow, bad, final)
            except FileProblem as exc:
                bad.add(exc.line, exc.message)
                return self._fail(path, snapshot, follow, bad, 0)
            if bad.count and self.config.on_bad_row == "reject":
                return self._fail(path, snapshot, follow, bad, good + bad.count)
            if follow.offset > follow.seg_offset:
                self.log.info(
                    "%s: resuming after %d row(s) already delivered (line %d)",
                    path.name,
                    follow.emitted,
                    follow.line,
                )
            emitted = self._emit(segment, follow, times.replay(), emit)
            if emitted is None:
                return Outcome.STOPPED
            follow = attrs.evolve(
                emitted,
                name=path.name,
                seg_offset=segment.size,
                seg_line=emitted.line,
                state=times.state(),
                mark_length=segment.size,
                mark=mark(segment, segment.size),
                bad_rows=follow.bad_rows + bad.count,
                resolved=follow.resolved + times.resolved,
            )
            if bad.count:
                kept = BadLines(
                    self._spool(follow, "file"),
                    path.name,
                    self.config.report_limit,
                    follow.bad_rows - bad.count,
                )
                kept.extend(bad)
                kept.close()
            self.ledger.segment_done(follow)
        finally:
            bad.discard()
        if not final or segment.size < snapshot.size:
            return Outcome.FOLLOWING
        entry = self.ledger.emitted(follow, content_hash(segment, self.config.read_size), end)
        report = None
        if follow.bad_rows:
            report = BadLines(
                self._spool(follow, "file"), path.name, self.config.report_limit, follow.bad_rows
            )
        try:
            return self._finish(path, entry.hash, entry, report)
        finally:
            if report is not None:
                report.discard()

    def _spool(self, follow: Follow, kind: str) -> Path:
        return self.spool_dir / f"{follow.device}-{follow.inode}.{kind}.txt"

    def _discard_spool(self, follow: Follow) -> None:
        for kind in ("segment", "file"):
            self._spool(follow, kind).unlink(missing_ok=True)

    def _rows(self, lines: LineReader) -> Iterator[Record]:
        return records(lines, self.config.delimiter, self.config.quotechar)

    def _header(
        self, snapshot: Snapshot, times: LocalTimes, offset: int, line: int
    ) -> tuple[RowsParser, LineReader]:
        """Read the header; return the rows parser and a reader at ``offset`` (``line``),
        or just after the header if that is further."""
        lines = LineReader(snapshot, self.config.read_size)
        for fields, number, problem in self._rows(lines):
            if problem is not None:
                raise FileProblem(number, f"header: {problem}")
            parse = self._parse_header(fields, number, times)
            if offset > lines.offset:
                lines = LineReader(snapshot, self.config.read_size, offset, line)
            return parse, lines
        raise FileProblem(0, "the file is empty: it has no header")

    def _check(
        self, segment: Snapshot, follow: Follow, bad: BadLines, final: bool
    ) -> tuple[LocalTimes, int, Snapshot]:
        """The first pass over a segment: decide local times, count good rows, spool bad
        ones. Returns the decisions, the good rows and the segment, cut before a repeated
        local time whose twin has not come yet (in a file still being written). Raises
        FileProblem."""
        times = local_times(self.config, deciding=True, state=follow.state)
        parse, lines = self._header(segment, times, follow.seg_offset, follow.seg_line)
        good = 0
        for parsed, unreadable in self._chunks(lines, parse, frozenset()):
            for line, message in sorted(unreadable + parsed.bad):
                bad.add(line, message)
            good += parsed.rows
        unpaired = times.unpaired()
        if unpaired and not final:
            cut = line_start(
                segment, follow.seg_offset, follow.seg_line, unpaired[0][0], self.config.read_size
            )
            bad.restart()
            return self._check(segment.upto(cut), follow, bad, final=False)
        for line, message in sorted({**times.refuse_unpaired(), **times.retro}.items()):
            bad.add(line, message)
            if line > follow.seg_line:
                good -= 1  # counted good when it was read; made bad by a later row
        return times, good, segment

    def _emit(
        self, segment: Snapshot, follow: Follow, times: LocalTimes, emit: Emit
    ) -> Follow | None:
        """The second pass, from the follow's offset; the follow after it, or None if
        stopped between chunks."""
        parse, lines = self._header(segment, times, follow.offset, follow.line)
        rows = follow.emitted
        readings = follow.readings
        for parsed, _unreadable in self._chunks(lines, parse, times.bad):
            if parsed.streams:
                emit(self._columns(parsed))
            # The chunk's rows are durable in the outboxes: resume after its last record.
            rows += parsed.rows
            readings += len(parsed.streams)
            self.ledger.progress(follow, rows, readings, lines.offset, lines.line)
            if self.stop.is_set():
                return None
        end_line = max(lines.line, follow.line)
        self.ledger.progress(follow, rows, readings, segment.size, end_line)
        return attrs.evolve(
            follow, emitted=rows, readings=readings, offset=segment.size, line=end_line
        )

    def _chunks(
        self, lines: LineReader, parse: RowsParser, skip: Container[int]
    ) -> Iterator[tuple[Parsed, list[tuple[int, str]]]]:
        """The rows of ``lines`` parsed a chunk (``chunk`` readings, at most) at a time,
        each with the records of its stretch that are not CSV, as (line, reason); rows
        starting on a line in ``skip`` are left out. When a chunk is given, ``lines`` is
        just past its last record."""
        size = max(1, self.config.chunk // parse.width)
        rows: list[list[str]] = []
        starts: list[int] = []
        unreadable: list[tuple[int, str]] = []
        for fields, line, problem in self._rows(lines):
            if problem is not None:
                unreadable.append((line, problem))
            elif line not in skip:
                rows.append(fields)
                starts.append(line)
                if len(rows) >= size:
                    yield parse(rows, starts), unreadable
                    rows, starts, unreadable = [], [], []
        if rows or unreadable:
            yield parse(rows, starts), unreadable

    def _columns(self, parsed: Parsed) -> ReadingColumns:
        """A chunk's readings as columns, named as from this source (so the bus need not
        copy them to name them). The parsers made sure every one is a valid reading; the
        columns check again (cheaply, a column at a time), so one they would refuse is a
        bug, and raises."""
        sources = [self.source_name] * len(parsed.streams)
        return ReadingColumns(parsed.streams, parsed.stamps, parsed.values, parsed.units, sources)

    # -- endings -----------------------------------------------------------------

    def _finish(self, path: Path, digest: str, entry: Entry, bad: BadLines | None) -> Outcome:
        target = self._place_in(self.config.done_dir, path)
        if bad is not None:
            heading = (
                f"{path.name}: imported {entry.emitted} good row(s) ({entry.readings} "
                f'readings); {bad.count} bad line(s) were skipped (on_bad_row = "skip"):'
            )
            self._report(target, digest, [heading], bad)
        try:
            move(path, target)
        except FileNotFoundError:
            self.log.warning(
                "%s: all %d row(s) were queued, but the file vanished before it could "
                "be moved to %s",
                path,
                entry.emitted,
                self.config.done_dir,
            )
            self.ledger.set_status(digest, "done", "")
            return Outcome.DONE
        self.ledger.set_status(digest, "done", str(target))
        if entry.resolved:
            self.count("repeated_times_resolved", entry.resolved)
        self.log.info(
            # Queued: durable in the outboxes; the sinks deliver them (wattbridge status).
            "%s: %d row(s), %d reading(s) queued%s%s; moved to %s",
            path.name,
            entry.emitted,
            entry.readings,
            f", {bad.count} bad line(s) skipped" if bad is not None else "",
            f", {entry.resolved} repeated local time(s) of the hour DST ends told apart by "
            "order (the first as summer time, the second as standard time)"
            if entry.resolved
            else "",
            target,
        )
        return Outcome.DONE

    def _place_in(self, folder: Path, path: Path) -> Path:
        """A free name for ``path`` in ``folder`` (made if missing), leaving room for its
        report beside it."""
        target = free_name(folder, path.name, (REPORT_SUFFIX,))
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def _report(self, target: Path, digest: str, heading: list[str], bad: BadLines) -> None:
        """Write the bad-line report beside ``target``, saying where the file came from."""
        provenance = (
            f"source {self.source_name}, format {self.config.format}, sha256 {digest}, "
            f"at {now_text()}"
        )
        write_report(target.with_name(target.name + REPORT_SUFFIX), [*heading, provenance], bad)

    def _fail(
        self, path: Path, snapshot: Snapshot, follow: Follow, bad: BadLines, rows: int
    ) -> Outcome:
        digest = content_hash(snapshot, self.config.read_size)
        earlier = follow.emitted
        target = self._place_in(self.config.failed_dir, path)
        first = bad.first or (0, "?")
        heading = [
            f"{path.name}: rejected; nothing of it was imported."
            if not earlier
            else f"{path.name}: rejected now; {earlier} row(s) of it had been queued before "
            "(the lines before these, of a file still being written, or an earlier run with "
            "another config) and stay queued.",
            f"{bad.count} bad line(s)"
            + (f" among {rows} row(s)" if rows else "")
            + (
                '; on_bad_row = "reject" rejects a file with any bad row '
                '(on_bad_row = "skip" imports the good rows).'
                if rows
                else "."
            ),
        ]
        self._report(target, digest, heading, bad)
        try:
            move(path, target)
        except FileNotFoundError:
            self.log.warning("%s was rejected but vanished before it could be moved", path)
        self.ledger.failed(digest, path.name, snapshot.size, bad.count, str(target))
        self.ledger.drop(follow)
        self._discard_spool(follow)
        self.log.error(
            "%s rejected (%d bad line(s), first %s:%d: %s); moved to %s with %s",
            path.name,
            bad.count,
            path.name,
            first[0],
            first[1],
            target,
            target.name + REPORT_SUFFIX,
        )
        return Outcome.FAILED

    def _duplicate(self, path: Path, digest: str, entry: Entry) -> Outcome:
        target = free_name(self.config.duplicates_dir, path.name, (DUPLICATE_SUFFIX,))
        target.parent.mkdir(parents=True, exist_ok=True)
        write_report(
            target.with_name(target.name + DUPLICATE_SUFFIX),
            [
                f"{path.name} was not imported: its content (sha256 {digest}) is that of "
                f"{entry.name}, imported before ({entry.emitted} row(s), moved to "
                f"{entry.moved_to or '?'}).",
                "Set dedupe = false in the source's config to import repeated files again.",
                f"source {self.source_name}, at {now_text()}",
            ],
            None,
        )
        try:
            move(path, target)
        except FileNotFoundError:
            self.log.warning("%s (a duplicate) vanished before it could be moved", path)
            return Outcome.DUPLICATE
        self.ledger.duplicate(digest)
        self.log.warning(
            "%s has the content of %s, imported before: not imported again; moved to %s",
            path.name,
            entry.name,
            target,
        )
        return Outcome.DUPLICATE
