"""Telling a file still held open for writing, from /proc, with real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wattbridge.testing import wait_until
from wattbridge_plugins.sources.csv_folder.writers import PROC, held_for_writing

HOLD = r"""
import sys
handle = open(sys.argv[1], sys.argv[2])
print("open", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


@pytest.fixture
def holder():
    """``holder(path, mode)``: a process that holds ``path`` open in ``mode``."""
    started: list[subprocess.Popen[str]] = []

    def start(path: Path, mode: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None and process.stdout.readline() == "open\n"
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.mark.parametrize("mode", ["a", "r+", "w"])
def test_a_process_holding_the_file_open_for_writing_is_seen(tmp_path, holder, mode):
    assert PROC.is_dir(), "these tests need Linux's /proc"
    path = tmp_path / "log.csv"
    path.write_text("a\n")
    assert not held_for_writing(path)
    process = holder(path, mode)
    assert held_for_writing(path)
    assert not held_for_writing(tmp_path / "other.csv")
    process.stdin.close()  # type: ignore[union-attr]
    process.wait(10)
    wait_until(lambda: not held_for_writing(path), message="the file to be released")


def test_a_reader_is_not_a_writer(tmp_path, holder):
    path = tmp_path / "log.csv"
    path.write_text("a\n")
    holder(path, "r")
    assert not held_for_writing(path)
