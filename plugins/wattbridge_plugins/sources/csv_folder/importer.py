"""Importing one settled file: hash, check, emit, move. See the README for the story.

1. **Hash** the content (SHA-256). Content the ledger has imported before goes to
   duplicates/ (``dedupe``); content whose rows were all emitted but which was not yet
   moved (a crash right before the move) goes straight to done/.
2. **Check** every row in a first streaming pass, spooling bad lines to the state
   folder. With ``on_bad_row = "reject"`` a file with any bad row (or an unreadable
   header) moves to failed/ beside its report, and nothing of it was emitted: that is
   why the check is a pass of its own, before the first emit.
3. **Emit** the good rows in a second streaming pass, ``chunk`` readings at a time. After
   each emit returns (the readings are durable in the outboxes) the ledger records the
   byte offset reached; a restart after a crash resumes there, so at most the last chunk
   is emitted twice (the platforms keep one value per stream and timestamp).
4. **Move** the file to done/ (with the report of skipped rows, if any).

A file that vanishes, changes or turns unreadable in the middle raises
:class:`FileTrouble`: it stays where it is, the ledger keeps what was delivered, and it
is tried again once it is stable (resuming if its content is the same).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import attrs

from wattbridge import Emit, Reading
from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.files import free_name, move
from wattbridge_plugins.sources.csv_folder.formats import RowProblem, header_parser
from wattbridge_plugins.sources.csv_folder.formats.cells import to_readings
from wattbridge_plugins.sources.csv_folder.ledger import Entry, Ledger
from wattbridge_plugins.sources.csv_folder.lines import (
    FileProblem,
    FileTrouble,
    LineReader,
    Record,
    Snapshot,
    content_hash,
    records,
)
from wattbridge_plugins.sources.csv_folder.report import BadLines, now_text, write_report
from wattbridge_plugins.sources.csv_folder.rowtypes import HeaderParser, RowParser

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


@attrs.define
class Importer:
    """Imports files one at a time for a csv-folder source."""

    config: CsvFolderConfig
    ledger: Ledger
    spool_dir: Path
    log: logging.Logger
    source_name: str
    stop: threading.Event
    _parse_header: HeaderParser = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._parse_header = header_parser(self.config)

    # -- the steps ---------------------------------------------------------------

    def run(self, path: Path, emit: Emit) -> Outcome:
        """Import ``path``; raises :class:`wattbridge.Stopping` from ``emit``."""
        try:
            snapshot = Snapshot.of(path)
            digest = content_hash(snapshot, self.config.read_size)
        except FileNotFoundError:
            self.log.warning("%s vanished before it could be read", path)
            return Outcome.RETRY
        except OSError as exc:
            self.log.warning("%s cannot be read: %s; will try again", path, exc.strerror or exc)
            return Outcome.RETRY
        except FileTrouble as exc:
            self.log.warning("%s; will try again", exc)
            return Outcome.RETRY

        entry = self.ledger.get(digest)
        if entry is not None and entry.status == "emitted":
            self.log.info("%s: every row was queued before a restart; moving it", path.name)
            return self._finish(path, digest, entry, None)
        if entry is not None and entry.status == "done" and self.config.dedupe:
            return self._duplicate(path, digest, entry)

        bad = BadLines(self.spool_dir / f"{digest}.txt", path.name, self.config.report_limit)
        try:
            return self._import(path, snapshot, digest, entry, bad, emit)
        except FileTrouble as exc:
            self.log.warning("%s; what was queued stays queued; will try again", exc)
            return Outcome.RETRY
        finally:
            bad.discard()

    def _import(
        self,
        path: Path,
        snapshot: Snapshot,
        digest: str,
        entry: Entry | None,
        bad: BadLines,
        emit: Emit,
    ) -> Outcome:
        # Rows of this content delivered by an earlier run (whose config took them).
        earlier = entry.emitted if entry is not None and entry.status == "importing" else 0
        try:
            good_rows = self._check(snapshot, bad)
        except FileProblem as exc:
            bad.add(exc.line, exc.message)
            return self._fail(path, snapshot, digest, bad, 0, earlier)
        if bad.count and self.config.on_bad_row == "reject":
            return self._fail(path, snapshot, digest, bad, good_rows + bad.count, earlier)

        if entry is not None and entry.status == "importing" and entry.offset > 0:
            self.log.info(
                "%s: resuming after %d row(s) already delivered (line %d)",
                path.name,
                entry.emitted,
                entry.line,
            )
        else:
            entry = self.ledger.begin(digest, path.name, snapshot.size, good_rows, bad.count)
        if not self._emit(snapshot, digest, entry, emit):
            return Outcome.STOPPED
        self.ledger.set_status(digest, "emitted")
        final = self.ledger.get(digest)
        assert final is not None
        return self._finish(path, digest, final, bad if bad.count else None)

    def _rows(self, lines: LineReader) -> Iterator[Record]:
        return records(lines, self.config.delimiter, self.config.quotechar)

    def _header(self, snapshot: Snapshot) -> tuple[RowParser, LineReader]:
        """Read the header; return the row parser and the reader positioned after it."""
        lines = LineReader(snapshot, self.config.read_size)
        for fields, line, problem in self._rows(lines):
            if problem is not None:
                raise FileProblem(line, f"header: {problem}")
            return self._parse_header(fields, line), lines
        raise FileProblem(0, "the file is empty: it has no header")

    def _check(self, snapshot: Snapshot, bad: BadLines) -> int:
        """The first pass: count good rows, spool bad ones. Raises FileProblem."""
        parse, lines = self._header(snapshot)
        good = 0
        for fields, line, problem in self._rows(lines):
            if problem is not None:
                bad.add(line, problem)
                continue
            try:
                parse(fields)
            except RowProblem as exc:
                bad.add(line, str(exc))
            else:
                good += 1
        return good

    def _emit(self, snapshot: Snapshot, digest: str, entry: Entry, emit: Emit) -> bool:
        """The second pass, from the entry's offset; False if stopped between chunks."""
        parse, lines = self._header(snapshot)
        if entry.offset > lines.offset:
            lines = LineReader(snapshot, self.config.read_size, entry.offset, entry.line)
        rows = entry.emitted
        readings = entry.readings
        chunk: list[Reading] = []
        chunk_rows = 0
        size = self.config.chunk
        for fields, _line, problem in self._rows(lines):
            if problem is not None:
                continue  # reported by the check (skip mode)
            try:
                parsed = parse(fields)
            except RowProblem:
                continue
            chunk.extend(to_readings(parsed))
            chunk_rows += 1
            if len(chunk) >= size:
                emit(chunk)
                rows += chunk_rows
                readings += len(chunk)
                self.ledger.progress(digest, rows, readings, lines.offset, lines.line)
                chunk = []
                chunk_rows = 0
                if self.stop.is_set():
                    return False
        if chunk:
            emit(chunk)
        rows += chunk_rows
        readings += len(chunk)
        self.ledger.progress(digest, rows, readings, lines.offset, lines.line)
        return True

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
        self.log.info(
            # Queued: durable in the outboxes; the sinks deliver them (wattbridge status).
            "%s: %d row(s), %d reading(s) queued%s; moved to %s",
            path.name,
            entry.emitted,
            entry.readings,
            f", {bad.count} bad line(s) skipped" if bad is not None else "",
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
        self,
        path: Path,
        snapshot: Snapshot,
        digest: str,
        bad: BadLines,
        rows: int,
        earlier: int = 0,
    ) -> Outcome:
        target = self._place_in(self.config.failed_dir, path)
        first = bad.first or (0, "?")
        heading = [
            f"{path.name}: rejected; nothing of it was imported."
            if not earlier
            else f"{path.name}: rejected now; {earlier} row(s) of it had been queued by an "
            "earlier run (with another config) and stay queued.",
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
