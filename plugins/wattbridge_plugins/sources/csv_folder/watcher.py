"""Watching the inbox: which files are there, and which have settled.

Listing a folder works alike on a local disk and a network share (inotify does not see
changes made by other machines on a share), so the watcher polls. A file is *ready*
once its size and mtime have not changed for ``settle`` seconds of the watcher's own
clock; names of files still being written (``*.tmp``, ``*.part``, hidden files) are
never taken, so the write-then-rename pattern needs no settling at all beyond that.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs


@attrs.define
class _Seen:
    size: int
    mtime_ns: int
    inode: int
    since: float


class Watcher:
    """Lists ``inbox`` and reports the files that match and have settled."""

    def __init__(
        self,
        inbox: Path,
        pattern: str,
        ignore: Sequence[str],
        settle: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inbox = inbox
        self.pattern = pattern
        self.ignore = tuple(ignore)
        self.settle = settle
        self.clock = clock
        self._seen: dict[str, _Seen] = {}

    def wanted(self, name: str) -> bool:
        """True if a file named ``name`` is one to take (pattern, not ignored, not hidden)."""
        if name.startswith("."):
            return False
        if any(fnmatch.fnmatch(name, glob) for glob in self.ignore):
            return False
        return fnmatch.fnmatch(name, self.pattern)

    def scan(self) -> list[Path]:
        """The settled files, oldest mtime first. Raises OSError if the inbox cannot be listed."""
        now = self.clock()
        present: dict[str, _Seen] = {}
        ready: list[tuple[int, str]] = []
        with os.scandir(self.inbox) as entries:
            for entry in entries:
                if not self.wanted(entry.name):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    st = entry.stat()
                except OSError:
                    continue  # vanished between listing and stat: next scan will tell
                seen = self._seen.get(entry.name)
                if seen is None or (seen.size, seen.mtime_ns, seen.inode) != (
                    st.st_size,
                    st.st_mtime_ns,
                    st.st_ino,
                ):
                    seen = _Seen(st.st_size, st.st_mtime_ns, st.st_ino, now)
                present[entry.name] = seen
                if now - seen.since >= self.settle:
                    ready.append((st.st_mtime_ns, entry.name))
        self._seen = present
        return [self.inbox / name for _mtime, name in sorted(ready)]

    def forget(self, path: Path) -> None:
        """Start the settle time of ``path`` afresh (after a failed attempt)."""
        self._seen.pop(path.name, None)
