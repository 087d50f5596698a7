"""One running wattbridge per state folder: an exclusive ``flock`` on ``STATE/lock``.

Two processes on one folder would both drain the same outboxes and both queue every
reading (twice the sends, twice the disk). The lock is the kernel's, so it is released
when the holder exits in any way, SIGKILL included: a stale lock file never blocks a
restart. The holder's pid is written in the file, for the error the second one gives.
Readers (``status``, ``deadletter list``) never take it: SQLite's WAL lets them read
while a run writes.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from wattbridge._private import FILE_MODE


class StateFolderInUse(RuntimeError):
    """Another process holds the state folder's lock."""


def lock_path(state_dir: Path) -> Path:
    """The lock file of a state folder."""
    return state_dir / "lock"


class StateLock:
    """The exclusive lock of one state folder, held from :func:`lock_state_dir` to
    :meth:`release` (or the process's end)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        """Let another process take the folder (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def lock_state_dir(state_dir: Path) -> StateLock:
    """Take the state folder's lock, or raise :class:`StateFolderInUse` naming the folder
    and the pid of the process that holds it."""
    path = lock_path(state_dir)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise StateFolderInUse(
            f"state folder {state_dir} is in use by another wattbridge (pid {holder}); "
            "stop it first, or give this config another state_dir"
        ) from None
    except BaseException:
        os.close(fd)
        raise
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
    except OSError:
        pass  # a full disk: the lock holds all the same, only the error names no pid
    return StateLock(path, fd)
