"""Helpers for the csv-folder tests: a source with quick timings, and file writers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wattbridge.testing import SourceHarness, jsonl_records, wait_until

FAST = {"settle": "0.05s", "scan_interval": "0.02s", "finished_after": "0.2s"}
"""Timings that keep tests quick; the defaults are tested on their own."""


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """An empty inbox folder."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


@pytest.fixture
def folder_source(
    run_source: Callable[..., SourceHarness], inbox: Path
) -> Callable[..., SourceHarness]:
    """``folder_source(**keys)``: a started csv-folder source on ``inbox``, quick timings."""

    def make(start: bool = True, **keys: Any) -> SourceHarness:
        harness = run_source("csv-folder", inbox=str(inbox), **{**FAST, **keys})
        if start:
            harness.start()
        return harness

    return make


def write(path: Path, text: str, *, encoding: str = "utf-8", newline: str = "\n") -> Path:
    """Write a CSV file whose lines end in ``newline``, via a hidden name then a rename
    (the pattern the source honours), so a test never races the settle time."""
    data = text.replace("\n", newline).encode(encoding)
    tmp = path.with_name(f".{path.name}.writing")
    tmp.write_bytes(data)
    tmp.rename(path)
    return path


def wait_for_path(path: Path, timeout: float = 10.0) -> Path:
    """Wait until ``path`` exists."""
    wait_until(path.exists, timeout, message=f"{path} to exist")
    return path


def report(folder: Path, name: str, timeout: float = 10.0) -> str:
    """Wait until ``name`` and its ``.error.txt`` are both in ``folder``; the report's text.
    (The report is written before the file is moved, so wait for the file.)"""
    wait_for_path(folder / name, timeout)
    return (folder / f"{name}.error.txt").read_text(encoding="utf-8")


def ledger_when(source: Any, predicate: Callable[[list[Any]], bool], timeout: float = 10.0):
    """Wait until ``predicate(entries)`` holds for the source's ledger; the entries.
    (The ledger is updated just after a file is moved, so a test that saw the file
    arrive must wait for it.)"""
    entries: list[Any] = []

    def check() -> bool:
        entries[:] = source.ledger.all()
        return predicate(entries)

    wait_until(check, timeout, message="the ledger")
    return entries


def as_tuples(readings: Any) -> list[tuple[str, str, Any, str]]:
    """Readings (objects or jsonl dicts) as comparable (stream, iso time, value, unit)."""
    out = []
    for r in readings:
        if isinstance(r, dict):
            out.append((r["stream"], r["timestamp"], r["value"], r["unit"]))
        else:
            out.append((r.stream, r.timestamp.isoformat(), r.value, r.unit))
    return out


def start_run(config_path: Path) -> subprocess.Popen[bytes]:
    """``python -m wattbridge run -c config_path`` in the config's folder, its log
    appended to log.txt there."""
    return subprocess.Popen(
        [sys.executable, "-m", "wattbridge", "run", "-c", str(config_path)],
        cwd=config_path.parent,
        stdout=subprocess.DEVNULL,
        stderr=(config_path.parent / "log.txt").open("ab"),
    )


class Helpers:
    """The helpers above, handed to tests as the ``csv`` fixture (test modules cannot
    import a conftest under --import-mode=importlib)."""

    write = staticmethod(write)
    wait_for_path = staticmethod(wait_for_path)
    report = staticmethod(report)
    ledger_when = staticmethod(ledger_when)
    jsonl = staticmethod(jsonl_records)
    as_tuples = staticmethod(as_tuples)
    start_run = staticmethod(start_run)


@pytest.fixture
def csv() -> type[Helpers]:
    """File writers and readers for the tests."""
    return Helpers
