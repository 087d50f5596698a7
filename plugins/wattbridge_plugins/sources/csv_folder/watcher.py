"""Watching the inbox: which files are there, and how long each has been unchanged.

Listing a folder works alike on a local disk and a network share (inotify does not see
changes made by other machines on a share), so the watcher polls. It tells, by its own
clock, how long each file's size, mtime and inode have been what they are; the source
decides from that when to take a file and when it is final. Names of files still being
written (``*.tmp``, ``*.part``, hidden files) are never listed.
"""

from __future__ import annotations

import fnmatch
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs


@attrs.define
class Seen:
    """A file as the watcher last saw it, and since when (the watcher's clock)."""

    path: Path
    size: int
    mtime_ns: int
    inode: int
    since: float
    first: float
    """When the watcher first saw the file (its clock)."""
    idle: float = 0.0
    """Seconds unchanged, as of the last scan."""
    age: float = 0.0
    """Seconds since first seen, as of the last scan."""

    @property
    def stat(self) -> tuple[int, int, int]:
        """Size, mtime and inode: what a change changes."""
        return (self.size, self.mtime_ns, self.inode)


class Watcher:
    """Lists ``inbox`` and reports the files that match, with how long each is unchanged."""

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
        self._seen: dict[str, Seen] = {}

    def wanted(self, name: str) -> bool:
        """True if a file named ``name`` is one to take (pattern, not ignored, not hidden)."""
        if name.startswith("."):
            return False
        if any(fnmatch.fnmatch(name, glob) for glob in self.ignore):
            return False
        return fnmatch.fnmatch(name, self.pattern)

    def scan(self) -> list[Seen]:
        """The wanted files, oldest mtime first. Raises OSError if the inbox cannot be listed."""
        now = self.clock()
        present: dict[str, Seen] = {}
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
                if seen is None or seen.stat != (st.st_size, st.st_mtime_ns, st.st_ino):
                    first = now if seen is None else seen.first
                    path = self.inbox / entry.name
                    seen = Seen(path, st.st_size, st.st_mtime_ns, st.st_ino, now, first)
                seen.idle = now - seen.since
                seen.age = now - seen.first
                present[entry.name] = seen
        self._seen = present
        return sorted(present.values(), key=lambda seen: (seen.mtime_ns, seen.path.name))

    def forget(self, path: Path) -> None:
        """Start the settle time of ``path`` afresh (after a failed attempt)."""
        self._seen.pop(path.name, None)
