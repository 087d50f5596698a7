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
import itertools
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path

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
    """What a file was when it was picked up: every later read must find the same file
    (device and inode), at least ``size`` bytes long, and, if exactly that long, with
    the same mtime. A file that grows is the same file (a logger appending); one that
    shrank, was replaced or was rewritten in place at the same size is not."""

    path: Path
    size: int
    mtime_ns: int
    inode: int
    device: int = 0

    @classmethod
    def of(cls, path: Path) -> Snapshot:
        """Stat ``path`` now. Raises OSError if it cannot be."""
        st = path.stat()
        return cls(path, st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)

    def upto(self, size: int) -> Snapshot:
        """The same file, read only up to ``size`` bytes."""
        return attrs.evolve(self, size=size)

    def trouble(self, st: os.stat_result) -> str | None:
        """Why a file with stat ``st`` is no longer this one, or None."""
        if st.st_ino != self.inode:
            return "was replaced by another file"
        if st.st_size < self.size:
            return f"became shorter ({self.size} -> {st.st_size} bytes)"
        if st.st_size == self.size and st.st_mtime_ns != self.mtime_ns:
            return "was rewritten"
        return None


def read_blocks(snapshot: Snapshot, block_size: int, start: int = 0) -> Iterator[bytes]:
    """The file's bytes from ``start`` to ``snapshot.size``, ``block_size`` at a time.

    Raises :class:`FileTrouble` if the file vanished, cannot be opened or read, or is no
    longer the file of ``snapshot`` (see :meth:`Snapshot.trouble`).
    """
    position = start
    path = snapshot.path
    while position < snapshot.size:
        try:
            with path.open("rb") as handle:
                trouble = snapshot.trouble(os.fstat(handle.fileno()))
                if trouble is not None:
                    raise FileTrouble(f"{path} changed while it was being read: it {trouble}")
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


def last_line_end(snapshot: Snapshot, start: int, block_size: int = 1 << 16) -> int:
    """The offset just past the last line end in ``[start, snapshot.size)``, or ``start``
    if there is none: where the complete lines of a file still being written end."""
    end = snapshot.size
    while end > start:
        begin = max(start, end - block_size)
        data = b"".join(read_blocks(snapshot.upto(end), block_size, begin))
        cut = data.rfind(b"\n")
        if cut >= 0:
            return begin + cut + 1
        end = begin
    return start


def line_start(snapshot: Snapshot, offset: int, line: int, wanted: int, block_size: int) -> int:
    """The offset where physical line ``wanted`` starts, counting from ``offset``, the
    start of line ``line + 1``."""
    position = offset
    to_skip = wanted - line - 1
    for block in read_blocks(snapshot, block_size, offset):
        found = -1
        while to_skip > 0:
            found = block.find(b"\n", found + 1)
            if found < 0:
                break
            to_skip -= 1
        if to_skip == 0:
            return position + found + 1 if found >= 0 else position
        position += len(block)
    return position


MARK_BYTES = 4096


def mark(snapshot: Snapshot, length: int) -> str:
    """A digest of the first and the last ``MARK_BYTES`` of the file's first ``length``
    bytes: bytes already imported, which a file that only grows never changes."""
    digest = hashlib.sha256(str(length).encode())
    for start in sorted({0, max(0, length - MARK_BYTES)}):
        for block in read_blocks(snapshot.upto(min(length, start + MARK_BYTES)), MARK_BYTES, start):
            digest.update(block)
    return digest.hexdigest()


def content_hash(snapshot: Snapshot, block_size: int) -> str:
    """The SHA-256 of the file's content, hex; raises :class:`FileTrouble`."""
    digest = hashlib.sha256()
    for block in read_blocks(snapshot, max(block_size, 1 << 20)):
        digest.update(block)
    return digest.hexdigest()


class LineReader:
    """The file's decoded lines (line ends kept), for ``csv.reader``.

    Iterating gives a C-level chain over each block's list of lines, so the csv module
    pulls lines without a Python call per line (that was a fifth of the parsing time).
    Where a record ends is known from line numbers instead: :func:`records` sets
    ``line`` to the number of the last line of each record it yields, and ``offset``
    is the byte offset just past that line (computed on demand, once a chunk).
    Lines that are not valid UTF-8 are handed out with replacement characters, their
    numbers and reasons queued in ``bad_encoding`` for :func:`records` to report.
    """

    def __init__(self, snapshot: Snapshot, block_size: int, offset: int = 0, line: int = 0):
        self.line = line
        self.bad_encoding: deque[tuple[int, str]] = deque()
        self._blocks = read_blocks(snapshot, block_size, offset)
        self._at_start = offset == 0
        # The next block's first line number (minus one) and byte offset.
        self._next_line = line
        self._next_offset = offset
        # The block being handed out: lines before it, its offset, its raw bytes, and
        # (computed when first asked) the byte offset past each of its lines.
        self._block_line = line
        self._block_offset = offset
        self._block_raw = b""
        self._block_ends: list[int] | None = []
        self._chain = itertools.chain.from_iterable(self._line_lists())

    def __iter__(self) -> Iterator[str]:
        return self._chain

    @property
    def offset(self) -> int:
        """The byte offset just past line ``line`` (the end of the last record)."""
        inside = self.line - self._block_line
        if inside <= 0:
            return self._block_offset
        if self._block_ends is None:
            # Cumulative line lengths in bytes (not of the decoded text: a line with bad
            # UTF-8 was decoded with replacement characters of another length).
            self._block_ends = list(
                itertools.accumulate(len(part) + 1 for part in self._block_raw.split(b"\n"))
            )
        return self._block_offset + min(self._block_ends[inside - 1], len(self._block_raw))

    def _line_lists(self) -> Iterator[list[str]]:
        pending = b""
        for block in self._blocks:
            data = pending + block if pending else block
            if self._at_start:
                self._at_start = False
                if data.startswith(BOM):
                    # The BOM counts in the offsets but is not part of the first header cell.
                    data = data[len(BOM) :]
                    self._next_offset += len(BOM)
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if len(pending) > MAX_LINE:
                raise FileProblem(
                    self._next_line + data.count(b"\n", 0, cut) + 1,
                    f"a line longer than {MAX_LINE >> 20} MiB: is this a CSV file?",
                )
            if cut:
                yield self._start_block(data[:cut])
        if pending:
            yield self._start_block(pending)

    def _start_block(self, raw: bytes) -> list[str]:
        lines = self._decode(raw, self._next_line)
        self._block_line = self._next_line
        self._block_offset = self._next_offset
        self._block_raw = raw
        self._block_ends = None
        self._next_line += len(lines)
        self._next_offset += len(raw)
        return lines

    def _decode(self, raw: bytes, before: int) -> list[str]:
        try:
            parts = raw.decode("utf-8").split("\n")
        except UnicodeDecodeError:
            parts = []
            for number, part in enumerate(raw.split(b"\n"), start=before + 1):
                # With its line end, as the line is: a sequence cut by it is then
                # "invalid", not "unexpected end of data".
                line = part + b"\n"
                try:
                    parts.append(line.decode("utf-8")[:-1])
                except UnicodeDecodeError as exc:
                    reason = f"not UTF-8 text: {exc.reason} at byte {exc.start + 1}"
                    self.bad_encoding.append((number, reason))
                    parts.append(line.decode("utf-8", errors="replace")[:-1])
        last = parts.pop()  # "" after a final line end, else a last line without one
        lines = [part + "\n" for part in parts]
        if last:
            lines.append(last)
        return lines


Record = tuple[list[str], int, str | None]
"""One CSV record: its fields, the line it starts on, and why it could not be read (bad
UTF-8, a CSV syntax error) or None. A plain tuple: one is made for every row, and a
named tuple would cost a fifth of a microsecond more each time."""


def records(lines: LineReader, delimiter: str, quotechar: str) -> Iterator[Record]:
    """The non-blank records of ``lines``, each with the line it starts on; after each,
    ``lines.line`` is its last line (so ``lines.offset`` is where it ends)."""
    reader = csv.reader(lines, delimiter=delimiter, quotechar=quotechar, strict=False)
    base = lines.line  # a reader counts the lines it took itself, from zero
    bad = lines.bad_encoding
    while True:
        start = lines.line + 1
        try:
            fields = next(reader)
            problem = None
        except StopIteration:
            return
        except csv.Error as exc:
            # The csv module resets itself after an error and goes on with the next line.
            fields = []
            problem = f"not valid CSV: {exc}"
        end = lines.line = base + reader.line_num
        if bad and bad[0][0] <= end:
            # Undecodable lines belong to the record they are part of, whatever else.
            reasons = [problem] if problem else []
            while bad and bad[0][0] <= end:
                reasons.append(bad.popleft()[1])
            problem = "; ".join(reasons)
        if problem is None and not any(fields):
            continue  # a blank line, or one of only delimiters as spreadsheets write
        yield fields, start, problem
