"""Error reports: ``<file>.error.txt`` beside a rejected file (or beside a file whose bad
rows were skipped), naming each bad line and why, and the note beside a duplicate.

Bad lines are written to a spool file in the state folder as they are found, so a file
with a million bad rows needs no memory for them; the report is assembled from the
spool when the file's fate is known.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from wattbridge import DataError


class BadLines:
    """The bad lines found in a file, spooled to ``spool``: those of one pass, or (with
    ``count``, the bad lines already in it) of every segment of a growing file so far."""

    def __init__(self, spool: Path, file_name: str, limit: int, count: int = 0) -> None:
        self.spool = spool
        self.file_name = file_name
        self.limit = limit
        self.count = count
        self.first: tuple[int, str] | None = None
        spool.parent.mkdir(parents=True, exist_ok=True)
        self._out: TextIO | None = spool.open("a" if count else "w", encoding="utf-8")

    def add(self, line: int, message: str) -> None:
        """Record that ``line`` is bad because of ``message``."""
        self.count += 1
        if self.first is None:
            self.first = (line, message)
        if self.count <= self.limit and self._out is not None:
            self._out.write(f"{DataError(f'{self.file_name}:{line}', message)}\n")

    def extend(self, other: BadLines) -> None:
        """Add the bad lines spooled by ``other`` (a finished segment's) to these."""
        other.close()
        assert self._out is not None
        with other.spool.open(encoding="utf-8") as spooled:
            for number, entry in enumerate(spooled):
                if self.count + number < self.limit:
                    self._out.write(entry)
        self._out.flush()
        self.count += other.count
        self.first = self.first or other.first

    def restart(self) -> None:
        """Forget every bad line (the pass is done again over less of the file)."""
        self.close()
        self.count = 0
        self.first = None
        self._out = self.spool.open("w", encoding="utf-8")

    def close(self) -> None:
        """Finish writing the spool."""
        if self._out is not None:
            self._out.close()
            self._out = None

    def discard(self) -> None:
        """Remove the spool (our own scratch file in the state folder)."""
        self.close()
        self.spool.unlink(missing_ok=True)


def write_report(target: Path, heading: list[str], bad: BadLines | None) -> None:
    """Write the report to ``target`` atomically: ``heading`` lines, then the bad lines."""
    tmp = target.with_name(f".{target.name}.tmp")
    with tmp.open("w", encoding="utf-8") as out:
        for line in heading:
            out.write(line + "\n")
        if bad is not None and bad.count:
            out.write("\n")
            bad.close()
            with bad.spool.open(encoding="utf-8") as spooled:
                for entry in spooled:
                    out.write(entry)
            if bad.count > bad.limit:
                out.write(
                    f"... and {bad.count - bad.limit} more bad line(s), not listed (report_limit)\n"
                )
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(target)


def now_text() -> str:
    """The time now, for reports: ISO 8601 UTC to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
