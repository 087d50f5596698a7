"""Watching: files being written are left alone, files are taken once stable (within two
seconds with the default timings), and the same content twice is imported once."""

from __future__ import annotations

import os
import time

from wattbridge.testing import wait_until

ROW = "2026-01-01T00:{m:02d}:{s:02d}Z;{n}\n"


def rows(first: int, count: int) -> str:
    return "".join(ROW.format(m=n // 60, s=n % 60, n=n) for n in range(first, first + count))


def test_a_growing_file_is_not_taken_until_it_is_stable(folder_source, inbox, csv):
    source = folder_source(settle="1s", finished_after="1s")
    path = inbox / "growing.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(";a\n")
        for part in range(8):
            handle.write(rows(part * 10, 10))
            handle.flush()
            time.sleep(0.1)  # a slow writer: less than `settle` between writes
            assert source.emitted == [], "taken while still growing"
            assert path.exists()
    csv.wait_for_path(inbox / "done" / "growing.csv")
    assert [r.value for r in source.emitted] == list(range(80))


def test_default_timings_deliver_a_complete_file_within_two_seconds(run_source, inbox, csv):
    source = run_source("csv-folder", inbox=str(inbox))  # settle 1s, scan 0.5s, final 3m
    source.start()
    time.sleep(0.3)  # let the first scan of the empty inbox happen
    csv.write(inbox / "f.csv", ";a\n" + rows(0, 3))
    written = time.monotonic()
    source.wait_for(3, timeout=5)
    # Every complete line delivered within two seconds of being written...
    assert time.monotonic() - written < 2.0
    # ...and the file stays, followed, until it has been idle for finished_after (3m).
    [follow] = source.source.ledger.follows()
    assert (follow.name, follow.emitted) == ("f.csv", 3) and (inbox / "f.csv").exists()


def test_temporary_partial_and_hidden_names_are_ignored_until_renamed(folder_source, inbox, csv):
    source = folder_source()
    for name in ("upload.csv.tmp", "upload.csv.part", ".upload.csv", "~lock.csv", "notes.txt"):
        (inbox / name).write_text(";a\n" + rows(0, 1))
    time.sleep(0.3)
    assert source.emitted == []
    os.rename(inbox / "upload.csv.part", inbox / "upload.csv")
    csv.wait_for_path(inbox / "done" / "upload.csv")
    assert len(source.emitted) == 1
    for name in ("upload.csv.tmp", ".upload.csv", "~lock.csv", "notes.txt"):
        assert (inbox / name).exists()


def test_pattern_selects_the_files(folder_source, inbox, csv):
    source = folder_source(pattern="export_*.txt")
    csv.write(inbox / "export_1.txt", ";a\n" + rows(0, 2))
    csv.write(inbox / "other.csv", ";a\n" + rows(0, 2))
    csv.wait_for_path(inbox / "done" / "export_1.txt")
    time.sleep(0.2)
    assert (inbox / "other.csv").exists()
    assert len(source.emitted) == 2


def test_the_same_file_twice_is_imported_once(folder_source, inbox, csv):
    source = folder_source()
    content = ";a\n" + rows(0, 5)
    csv.write(inbox / "jan.csv", content)
    csv.wait_for_path(inbox / "done" / "jan.csv")
    csv.write(inbox / "jan-again.csv", content)
    note = csv.wait_for_path(inbox / "duplicates" / "jan-again.csv.duplicate.txt").read_text()
    assert (inbox / "duplicates" / "jan-again.csv").read_text() == content
    assert "its content (sha256" in note and "is that of jan.csv, imported before" in note
    # Dropped again under the very same name: still once, and nothing overwritten.
    csv.write(inbox / "jan.csv", content)
    csv.wait_for_path(inbox / "duplicates" / "jan.csv.duplicate.txt")
    assert len(source.emitted) == 5
    [entry] = csv.ledger_when(source.source, lambda e: e and e[0].duplicates == 2)
    assert (entry.status, entry.duplicates) == ("done", 2)


def test_without_dedupe_the_same_file_is_imported_again(folder_source, inbox, csv):
    source = folder_source(dedupe=False)
    content = ";a\n" + rows(0, 5)
    csv.write(inbox / "jan.csv", content)
    csv.wait_for_path(inbox / "done" / "jan.csv")
    csv.write(inbox / "jan.csv", content)
    csv.wait_for_path(inbox / "done" / "jan.1.csv")
    assert len(source.emitted) == 10
    assert (inbox / "done" / "jan.csv").read_text() == content


def test_many_files_are_all_taken_oldest_first(folder_source, inbox, csv):
    source = folder_source(chunk=7)
    for n in range(20):
        path = csv.write(inbox / f"f{n:02d}.csv", ";a\n" + rows(n * 10, 10))
        os.utime(path, ns=(n * 10**9, n * 10**9))
    wait_until(lambda: len(list((inbox / "done").glob("*.csv"))) == 20, 20)
    assert [r.value for r in source.emitted] == list(range(200))


def test_folders_can_live_elsewhere(folder_source, inbox, csv, tmp_path):
    done, failed = tmp_path / "archive" / "ok", tmp_path / "archive" / "bad"
    folder_source(done=str(done), failed=str(failed))
    csv.write(inbox / "good.csv", ";a\n" + rows(0, 1))
    csv.write(inbox / "bad.csv", ";a\nnope;1\n")
    csv.wait_for_path(done / "good.csv")
    assert "bad.csv:2: timestamp 'nope' is not ISO 8601" in csv.report(failed, "bad.csv")


def test_a_file_that_never_pauses_for_settle_is_taken_while_it_grows(folder_source, inbox, csv):
    """A logger writing more often than `settle` is followed once its file has been in
    the inbox ten times `settle`: its rows arrive while it is still being written."""
    source = folder_source(settle="0.2s", finished_after="1s")
    path = inbox / "fast.csv"
    written = 0
    with path.open("w", encoding="utf-8") as log:
        log.write(";a\n")
        deadline = time.monotonic() + 60
        while not source.emitted:
            assert time.monotonic() < deadline, "never taken"
            log.write(rows(written, 1))
            log.flush()
            written += 1
            time.sleep(0.05)
        assert path.exists() and not (inbox / "done" / "fast.csv").exists()
    csv.wait_for_path(inbox / "done" / "fast.csv")
    assert [r.value for r in source.emitted] == list(range(written))
