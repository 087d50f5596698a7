"""A file that vanishes, turns unreadable or changes in the middle of its import: no
crash, a clear log line naming it, and nothing that was delivered is lost; when it is
back (or stable again) the import finishes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from wattbridge import Reading
from wattbridge.testing import wait_until

ROWS = 2000  # about 50 kB: many 4 kB reads, so the trouble strikes mid-file


def content(rows: int = ROWS) -> str:
    return ";a\n" + "".join(
        f"2026-01-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z;{n}\n" for n in range(rows)
    )


class Run:
    """Runs the source with an emit that does ``on_first`` once, after the first chunk."""

    def __init__(self, source: object, on_first: Callable[[], None]) -> None:
        self.source = source
        self.on_first = on_first
        self.emitted: list[Reading] = []
        self.calls = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.errors: list[BaseException] = []

    def emit(self, readings: list[Reading]) -> None:
        self.emitted.extend(readings)
        self.calls += 1
        if self.calls == 1:
            self.on_first()

    def run(self) -> None:
        try:
            self.source.start(self.emit)  # type: ignore[attr-defined]
        except BaseException as exc:
            self.errors.append(exc)

    def __enter__(self) -> Run:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.source.stop()  # type: ignore[attr-defined]
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.errors == []


@pytest.fixture
def slow_source(folder_source):
    """A source that reads 4 kB at a time and emits 100 readings at a time."""
    return folder_source(start=False, read_size=4096, chunk=100).source


def overwrite(path: Path, text: str) -> None:
    """Write ``text`` over the file's bytes in place (same inode, no truncation)."""
    with path.open("r+b") as handle:
        handle.write(text.encode())


def values(readings: list[Reading]) -> set[int | float | str]:
    return {r.value for r in readings}


def test_a_file_that_vanishes_mid_read(slow_source, inbox: Path, tmp_path: Path, caplog, csv):
    caplog.set_level(logging.INFO)
    path = csv.write(inbox / "v.csv", content())
    parked = tmp_path / "parked.csv"
    with Run(slow_source, lambda: os.rename(path, parked)) as run:
        wait_until(lambda: "v.csv vanished while it was being read" in caplog.text)
        delivered = len(run.emitted)
        assert 100 <= delivered < ROWS
        [follow] = slow_source.ledger.follows()  # an import in progress
        assert follow.emitted == delivered  # what emit returned for is on the ledger
        assert not (inbox / "done" / "v.csv").exists()
        # It comes back: the import resumes where it stopped and finishes.
        os.rename(parked, path)
        csv.wait_for_path(inbox / "done" / "v.csv")
    assert values(run.emitted) == set(range(ROWS))
    assert len(run.emitted) <= ROWS + 100  # at most one chunk again
    assert "resuming after" in caplog.text


def test_a_file_that_turns_unreadable_mid_read(slow_source, inbox, tmp_path, caplog, csv):
    caplog.set_level(logging.INFO)
    path = csv.write(inbox / "u.csv", content())
    parked = tmp_path / "parked.csv"

    def break_it() -> None:
        os.rename(path, parked)
        path.mkdir()  # the name is there, but it cannot be read as a file

    with Run(slow_source, break_it) as run:
        wait_until(lambda: "u.csv cannot be read" in caplog.text)
        delivered = len(run.emitted)
        assert 100 <= delivered < ROWS
        assert slow_source.ledger.follows()[0].emitted == delivered
        path.rmdir()
        os.rename(parked, path)
        csv.wait_for_path(inbox / "done" / "u.csv", timeout=15)
    assert values(run.emitted) == set(range(ROWS))


def test_a_file_appended_to_mid_read_is_followed_and_nothing_read_twice(
    slow_source, inbox, caplog, csv
):
    caplog.set_level(logging.INFO)
    path = csv.write(inbox / "c.csv", content())

    def append() -> None:
        with path.open("a", encoding="utf-8") as handle:
            handle.write("2026-01-02T00:00:00Z;-1\n")

    with Run(slow_source, append) as run:
        csv.wait_for_path(inbox / "done" / "c.csv", timeout=15)
    assert sorted(r.value for r in run.emitted) == [-1, *range(ROWS)]  # each row once
    [entry] = csv.ledger_when(slow_source, lambda e: e and e[0].status == "done")
    assert entry.emitted == ROWS + 1 and slow_source.ledger.follows() == []


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda path: os.truncate(path, len(content(10))), "was truncated"),
        (lambda path: overwrite(path, content().replace(";11\n", ";99\n")), "was rewritten"),
    ],
    ids=["truncated", "rewritten"],
)
def test_a_file_truncated_or_rewritten_under_the_import_is_read_again_as_a_new_file(
    folder_source, inbox, caplog, csv, change, said
):
    """The README's promise: what was delivered stays delivered; the new content is
    imported from its first line (its rows again, which the platforms overwrite)."""
    caplog.set_level(logging.INFO)
    source = folder_source(finished_after="8s")  # long enough not to finish before the change
    path = csv.write(inbox / "t.csv", content())
    source.wait_for(ROWS)
    assert path.exists()  # followed until idle for finished_after
    change(path)
    wait_until(lambda: f"t.csv {said}" in caplog.text, timeout=30)
    csv.wait_for_path(inbox / "done" / "t.csv", timeout=60)
    final = (inbox / "done" / "t.csv").read_text()
    expected = [int(line.split(";")[1]) for line in final.splitlines()[1:]]
    later = source.emitted[ROWS:]
    assert [r.value for r in later] == expected


def test_an_unlistable_inbox_is_logged_and_waited_for(folder_source, inbox, tmp_path, caplog, csv):
    caplog.set_level(logging.INFO)
    source = folder_source(start=False)
    parked = tmp_path / "parked"
    with Run(source.source, lambda: None):
        # "watching" is logged once the source has made its folders.
        wait_until(lambda: f"watching {inbox}" in caplog.text)
        inbox.rename(parked)  # a network share that went away
        wait_until(lambda: f"cannot list {inbox}" in caplog.text)
        parked.rename(inbox)
        csv.write(inbox / "back.csv", content(3))
        csv.wait_for_path(inbox / "done" / "back.csv")
    assert "can be listed again" in caplog.text
