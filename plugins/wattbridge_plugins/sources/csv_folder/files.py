"""Moving a finished file to done/, failed/ or duplicates/: never over another file,
durable (the folder is synced), and across file systems when the folders are on
different disks (copied, synced, then the original removed: a move, not a loss)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path


def free_name(folder: Path, name: str, companions: tuple[str, ...] = ()) -> Path:
    """``folder/name``, or ``folder/stem.N.suffix`` if that (or a companion file such as
    ``name + ".error.txt"``) already exists: nothing in the folder is ever replaced."""
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem:
        stem, suffix, dot = name, "", ""
    candidate = name
    number = 0
    while (folder / candidate).exists() or any(
        (folder / (candidate + extra)).exists() for extra in companions
    ):
        number += 1
        candidate = f"{stem}.{number}{dot}{suffix}"
    return folder / candidate


def sync_folder(folder: Path) -> None:
    """fsync a folder, so a rename in it survives a power cut (where supported)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some network file systems cannot sync a folder
    finally:
        os.close(fd)


def move(source: Path, target: Path) -> None:
    """Move ``source`` to ``target`` (which must not exist)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(source, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = target.with_name(f".{target.name}.part")
        shutil.copy2(source, tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        sync_folder(target.parent)
        source.unlink()
    sync_folder(target.parent)
    sync_folder(source.parent)
