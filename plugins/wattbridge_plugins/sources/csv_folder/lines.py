"""Reading a picked-up file safely: in blocks, each read re-opening the file and checking
it is still the file that was picked up, and split into CSV records that know the byte
offset where they end (so an import can resume there after a crash).

Re-opening for every block costs one ``open`` a megabyte and buys two things: a file
that vanishes, is replaced or turns unreadable is noticed at once (an open handle on
Linux would go on reading a deleted file), and a stale handle on a network share cannot
hang an import for good.
"""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import attrs

BOM = b"\xef\xbb\xbf"
MAX_LINE = 16 << 20
"""A line longer than this is not CSV the plugin can read: the file fails as a whole."""


class FileTrouble(Exception):
    """The file cannot be read as picked up: it vanished, changed or is unreadable.

    Not the data's fault: the file stays in the inbox and is tried again later; what was
    already delivered stays delivered.
    """


class FileProblem(Exception):
    """The file's content cannot be read as CSV at all (no header, a huge line...).

    ``line`` is the line where it shows (1-based), or 0 for the file as a whole.
    """

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@attrs.frozen
class Snapshot:
    """What a file was when it was picked up; every later read must find it the same."""

    path: Path
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> Snapshot:
        """Stat ``path`` now. Raises OSError if it cannot be."""
        st = path.stat()
        return cls(path, st.st_size, st.st_mtime_ns, st.st_ino)


def read_blocks(snapshot: Snapshot, block_size: int, start: int = 0) -> Iterator[bytes]:
    """The file's bytes from ``start`` to its picked-up size, ``block_size`` at a time.

    Raises :class:`FileTrouble` if the file vanished, cannot be opened or read, or is no
    longer what ``snapshot`` says (size, mtime or inode changed).
    """
    position = start
    path = snapshot.path
    while position < snapshot.size:
        try:
            with path.open("rb") as handle:
                st = os.fstat(handle.fileno())
                if (st.st_size, st.st_mtime_ns, st.st_ino) != (
                    snapshot.size,
                    snapshot.mtime_ns,
                    snapshot.inode,
                ):
                    raise FileTrouble(
                        f"{path} changed while it was being read (size {snapshot.size} -> "
                        f"{st.st_size}); it will be read again once it is stable"
                    )
                handle.seek(position)
                data = handle.read(min(block_size, snapshot.size - position))
        except FileNotFoundError:
            raise FileTrouble(f"{path} vanished while it was being read") from None
        except OSError as exc:
            raise FileTrouble(f"{path} cannot be read: {exc.strerror or exc}") from None
        if not data:
            raise FileTrouble(f"{path} became shorter while it was being read")
        position += len(data)
        yield data


def content_hash(snapshot: Snapshot, block_size: int) -> str:
    """The SHA-256 of the file's content, hex; raises :class:`FileTrouble`."""
    digest = hashlib.sha256()
    for block in read_blocks(snapshot, max(block_size, 1 << 20)):
        digest.update(block)
    return digest.hexdigest()


class LineReader:
    """An iterator of the file's decoded lines (line ends kept) for ``csv.reader``.

    ``offset`` is the byte offset just past the last line handed out and ``line`` its
    number, so after ``csv.reader`` returns a record they say where the record ends.
    Lines that are not valid UTF-8 are handed out with replacement characters and their
    numbers collected in ``bad_encoding``, to be reported as bad rows.
    """

    def __init__(self, snapshot: Snapshot, block_size: int, offset: int = 0, line: int = 0):
        self.offset = offset
        self.line = line
        self.bad_encoding: list[tuple[int, str]] = []
        self._blocks = read_blocks(snapshot, block_size, offset)
        self._lines: list[bytes] = []
        self._index = 0
        self._pending = b""
        self._eof = False

    def __iter__(self) -> LineReader:
        return self

    def __next__(self) -> str:
        if self._index >= len(self._lines):
            self._fill()
        raw = self._lines[self._index]
        self._index += 1
        if self.offset == 0 and raw.startswith(BOM):
            # The BOM counts in the offset but is not part of the first header cell.
            self.offset = len(BOM)
            raw = raw[len(BOM) :]
        self.offset += len(raw)
        self.line += 1
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.bad_encoding.append(
                (self.line, f"not UTF-8 text: {exc.reason} at byte {exc.start + 1}")
            )
            return raw.decode("utf-8", errors="replace")

    def _fill(self) -> None:
        while True:
            if self._eof:
                raise StopIteration
            block = next(self._blocks, None)
            if block is None:
                self._eof = True
                self._lines = [self._pending] if self._pending else []
                self._pending = b""
            else:
                parts = (self._pending + block).split(b"\n")
                self._pending = parts.pop()
                if len(self._pending) > MAX_LINE:
                    raise FileProblem(
                        self.line + len(parts) + 1,
                        f"a line longer than {MAX_LINE >> 20} MiB: is this a CSV file?",
                    )
                self._lines = [part + b"\n" for part in parts]
            self._index = 0
            if self._lines:
                return


class Record(NamedTuple):
    """One CSV record: the fields, the line it starts on, and the byte offset past its
    end. (A named tuple: one is made for every row, and tuples are the cheapest.)"""

    fields: list[str]
    line: int
    end: int
    problem: str | None = None
    """Why the record could not be read (bad UTF-8, a CSV syntax error), or None."""


def records(lines: LineReader, delimiter: str, quotechar: str) -> Iterator[Record]:
    """The non-blank records of ``lines``, each with where it starts and ends."""
    reader = csv.reader(lines, delimiter=delimiter, quotechar=quotechar, strict=False)
    while True:
        start = lines.line + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The csv module resets itself after an error and goes on with the next line.
            yield Record([], start, lines.offset, f"not valid CSV: {exc}")
            continue
        problem = None
        if lines.bad_encoding:
            problem = "; ".join(message for _line, message in lines.bad_encoding)
            lines.bad_encoding.clear()
        if not fields and problem is None:
            continue  # a blank line
        if problem is None and not any(fields):
            continue  # a line of only delimiters, as spreadsheets write below the data
        yield Record(fields, start, lines.offset, problem)
