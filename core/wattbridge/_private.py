"""State that only its owner may read: folders made 0700, files 0600.

The state folder holds every queued reading, the sinks' rate-limit stamps and import
ids, and the files that the sinks upload; none of it is for other users of the machine.
Folders get their mode only when wattbridge makes them (a ``state_dir`` the user points
at an existing folder keeps its mode: it may be shared); files are wattbridge's own, so
an older, wider file is narrowed as it is opened.
"""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Make ``path`` (and missing parents) as folders only the owner may enter; returns it.

    Python's ``mkdir(mode=...)`` applies the mode to the last folder only, so each
    missing folder is made one at a time.
    """
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=FOLDER_MODE)
        except FileExistsError:  # made meanwhile by another thread or process
            continue
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` if missing, readable and writable by the owner only (0600), and
    narrow an existing one to that; returns it. Call before SQLite opens a database:
    its -wal and -shm files take the database file's mode."""
    private_dir(path.parent)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if os.stat(descriptor).st_mode & 0o777 != FILE_MODE:
            os.fchmod(descriptor, FILE_MODE)
    finally:
        os.close(descriptor)
    return path


def write_private(path: Path, text: str) -> None:
    """Replace ``path``'s content with ``text`` atomically (a 0600 temporary file, then
    a rename), so a crash leaves the old content or the new, never half of it."""
    tmp = private_file(path.with_name(f".{path.name}.tmp"))
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
