"""Is a file held open for writing by a process on this machine? (Linux: /proc.)

A logger that keeps its file open and pauses longer than ``finished_after`` must not
have the file moved to done/ under it (its next rows would land in done/). Where /proc
cannot tell (another OS, a writer on another machine of a network share, processes of
other users when not root), the answer is "not that we can see", and idleness alone
decides.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
_WRITE_MODES = (os.O_WRONLY, os.O_RDWR)


def held_for_writing(path: Path) -> bool:
    """True if a process that /proc shows has ``path`` open for writing."""
    try:
        target = os.path.realpath(path)
        processes = [entry for entry in os.scandir(PROC) if entry.name.isdigit()]
    except OSError:
        return False
    for process in processes:
        try:
            descriptors = os.scandir(f"{process.path}/fd")
        except OSError:
            continue  # gone, or another user's
        with descriptors:
            for descriptor in descriptors:
                try:
                    if os.readlink(descriptor.path) != target:
                        continue
                    with open(f"{process.path}/fdinfo/{descriptor.name}") as info:
                        for line in info:
                            if line.startswith("flags:"):
                                flags = int(line.split()[1], 8)
                                if flags & os.O_ACCMODE in _WRITE_MODES:
                                    return True
                except (OSError, ValueError, IndexError):
                    continue
    return False
