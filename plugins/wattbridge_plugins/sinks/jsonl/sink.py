"""The ``jsonl`` sink: one JSON object a line, in :meth:`wattbridge.Reading.to_dict`'s
form, appended to a file (fsynced before the batch is acknowledged) or written to
standard output. For debugging a config, and as the simplest end of a pipeline.

A batch is appended whole or not at all: a write that fails part-way (a full disk)
is cut off again, so the file never holds a torn line, and the batch is retried. A
process killed in the middle of a write (SIGKILL, a power cut) cannot cut it off: the
next run does, when it opens the file, as that batch was never acknowledged and is
sent again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
from collections.abc import Iterator
from itertools import chain, repeat
from operator import itemgetter

from wattbridge import Batch, SendResult, SinkContext, SinkLimits, StampText
from wattbridge_plugins.sinks.jsonl.config import JsonlConfig


class JsonlSink:
    """Writes readings as JSON lines; every batch succeeds unless the write fails."""

    def __init__(self, config: JsonlConfig, context: SinkContext) -> None:
        self.config = config
        self.limits = SinkLimits(max_batch=config.batch)
        self.log = context.logger
        self._fd: int | None = None
        self._frames: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._stamps = StampText()

    def open(self) -> None:
        """Open the file for appending (created with its folder if missing)."""
        if self.config.path is not None and self._fd is None:
            self.config.path.parent.mkdir(parents=True, exist_ok=True)
            # Unbuffered: a buffer would keep the part of a failed write that did not
            # fit, and write it later in the middle of another batch.
            self._fd = os.open(self.config.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._cut_torn_line(self._fd)

    def _cut_torn_line(self, fd: int) -> None:
        """Cut off a last line without its end: the part of a batch whose write a kill
        interrupted. Appended to, it would make one line of two, neither of them JSON."""
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return  # a device or a pipe cannot be cut, and an empty file is whole
        assert self.config.path is not None
        with self.config.path.open("rb") as file:
            end = info.st_size
            while end > 0:
                start = max(0, end - 65536)
                file.seek(start)
                block = file.read(end - start)
                if end == info.st_size and block.endswith(b"\n"):
                    return
                newline = block.rfind(b"\n")
                if newline >= 0:
                    end = start + newline + 1
                    break
                end = start
        os.ftruncate(fd, end)
        self.log.warning(
            "%s ended in a line cut off by an interrupted write (%d bytes); removed, "
            "as its batch was not acknowledged and is written again",
            self.config.path,
            info.st_size - end,
        )

    def close(self) -> None:
        """Close the file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _frame(self, stream: str, unit: str, source: str) -> tuple[str, str]:
        # The text around timestamp and value depends only on these three names, which
        # repeat: build it once per combination (bounded, in case names never repeat).
        key = (stream, unit, source)
        frame = self._frames.get(key)
        if frame is None:
            head = f'{{"stream": {json.dumps(stream, ensure_ascii=False)}, "timestamp": "'
            tail = (
                f', "unit": {json.dumps(unit, ensure_ascii=False)}, '
                f'"source": {json.dumps(source, ensure_ascii=False)}}}\n'
            )
            frame = (head, tail)
            if len(self._frames) < 100_000:
                self._frames[key] = frame
        return frame

    def format(self, batch: Batch) -> str:
        """The batch's JSON lines, as one string (made from its columns: no reading
        objects, no datetimes)."""
        columns = batch.columns
        streams, units, sources = columns.streams, columns.units, columns.sources
        if not streams:
            return ""
        if units.count(units[0]) == len(units) and sources.count(sources[0]) == len(sources):
            # One unit and one source (a file, a meter): the frame follows the stream.
            unit, source = units[0], sources[0]
            by_stream = {name: self._frame(name, unit, source) for name in set(streams)}
            frames = list(map(by_stream.__getitem__, streams))
        else:
            frames = list(map(self._frame, streams, units, sources))
        values = columns.values
        # repr() of a finite float or an int is valid JSON, and faster than dumps.
        texts = (
            map(repr, values)
            if str not in set(map(type, values))
            else [json.dumps(v, ensure_ascii=False) if type(v) is str else repr(v) for v in values]
        )
        # Every piece of every line, joined at once: the loop runs in C (builtins and
        # itertools), not once a reading in Python.
        pieces = zip(
            map(itemgetter(0), frames),
            self._stamps.isos(columns.stamps),
            repeat('", "value": '),
            texts,
            map(itemgetter(1), frames),
        )
        return "".join(chain.from_iterable(pieces))

    def preview(self, batch: Batch) -> Iterator[tuple[str, str]]:
        """The lines ``send`` would append (``wattbridge test``)."""
        yield f"append to {self.config.path or 'standard output'}", self.format(batch)

    def send(self, batch: Batch) -> SendResult:
        """Append the batch's lines; fsync; all ok."""
        text = self.format(batch)
        if self.config.path is None:
            sys.stdout.write(text)
            sys.stdout.flush()
            return SendResult.all_ok(batch)
        self.open()
        assert self._fd is not None
        self._append(self._fd, text.encode("utf-8"))
        return SendResult.all_ok(batch)

    def _append(self, fd: int, data: bytes) -> None:
        """Append ``data`` whole (and sync it), or cut the file back and raise."""
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self.config.fsync:
                os.fsync(fd)
        except OSError:
            # A device (/dev/full) cannot be cut: its error is not the one to report.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
