"""The ``csv-folder`` source: a pushed source that watches an inbox folder and imports
its CSV files with :class:`~.importer.Importer`, one run of one file at a time.

A new file is taken once it has settled; from then on it is *followed*: each change
imports the lines completed since, and once it is final (unchanged for
``finished_after``, held open for writing by no process) its last run moves it. It
runs only while every outbox its routes feed has room (backpressure: a full outbox
stops the intake, nothing is dropped), and a file that could not be read (vanished,
unreadable, or a fault of ours) is tried again with a growing delay, while the other
files go on. :meth:`CsvFolderSource.busy` tells ``wattbridge run --until-idle`` that
files are in hand.
"""

from __future__ import annotations

import threading
import time

import attrs

from wattbridge import Emit, SourceContext, Stopping
from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.importer import Importer, Outcome
from wattbridge_plugins.sources.csv_folder.ledger import Ledger
from wattbridge_plugins.sources.csv_folder.watcher import Seen, Watcher

RETRY_INITIAL = 1.0
RETRY_MAX = 300.0
HELD_OPEN_RECHECK = 5.0
"""Seconds between looks at /proc for a final-looking file a process holds open."""
GROWING_TAKEN_AFTER = 10
"""A new file that keeps growing (a logger writing more often than ``settle``) is taken
once it has been in the inbox this many times ``settle``."""


@attrs.define
class _Retry:
    failures: int = 0
    at: float = 0.0


class CsvFolderSource:
    """Watches ``config.inbox``; see the module doc and the plugin's README."""

    def __init__(self, config: CsvFolderConfig, context: SourceContext) -> None:
        self.config = config
        self.context = context
        self.log = context.logger
        self._stop = threading.Event()
        self.ledger = Ledger(context.state_dir / "ledger.sqlite")
        self.watcher = Watcher(
            config.inbox,
            config.pattern,
            config.ignore,
            config.settle.total_seconds(),
        )
        self.importer = Importer(
            config,
            self.ledger,
            context.state_dir / "spool",
            self.log,
            context.name,
            self._stop,
            count=context.count,
        )
        self._retries: dict[str, _Retry] = {}
        self._followed: dict[str, tuple[int, int, int]] = {}
        """Files being followed -> their stat when last run."""
        self._recheck: dict[str, float] = {}
        """Final-looking files held open for writing -> when to look again."""
        self._in_hand = True  # until the first scan says otherwise
        self._resume = {follow.name for follow in self.ledger.follows()}
        """Files whose import a restart resumes without waiting for them to settle."""
        self.outcomes: dict[str, int] = {outcome.value: 0 for outcome in Outcome}
        """How many files ended each way since start (for tests and status)."""

    def start(self, emit: Emit) -> None:
        """Watch and import until :meth:`stop` is called."""
        self._stop.clear()
        for folder in (
            self.config.inbox,
            self.config.done_dir,
            self.config.failed_dir,
            self.config.duplicates_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        self.log.info(
            "watching %s for %s (%s format)",
            self.config.inbox,
            self.config.pattern,
            self.config.format,
        )
        inbox_trouble = False
        interval = self.config.scan_interval.total_seconds()
        while not self._stop.is_set():
            try:
                listed = self.watcher.scan()
            except OSError as exc:
                # A network share that is down: say so once, keep trying.
                if not inbox_trouble:
                    self.log.warning("cannot list %s: %s", self.config.inbox, exc)
                    self.context.report_error("inbox", f"cannot list {self.config.inbox}: {exc}")
                inbox_trouble = True
                self._stop.wait(interval)
                continue
            if inbox_trouble:
                self.log.info("%s can be listed again", self.config.inbox)
                self.context.report_error("inbox", None)
                inbox_trouble = False
            present = {seen.path.name for seen in listed}
            for gone in set(self._followed) - present:
                self._followed.pop(gone, None)
            self._in_hand = any(self._due(seen.path.name) for seen in listed)
            for seen in listed:
                if not self._runnable(seen):
                    continue
                if self._stop.is_set() or not self._wait_for_room():
                    return
                if not self._import(seen, emit):
                    return
            self._stop.wait(interval)

    def _runnable(self, seen: Seen) -> bool:
        """True if ``seen`` has something to import now (or may be final)."""
        name = seen.path.name
        if not self._due(name):
            return False
        if name not in self._followed:
            settle = self.config.settle.total_seconds()
            return (
                seen.idle >= settle
                or seen.age >= GROWING_TAKEN_AFTER * settle
                or name in self._resume
            )
        if self._followed[name] != seen.stat:
            return True  # it grew (or changed): import what was completed
        if seen.idle < self.config.finished_after.total_seconds():
            return False
        return time.monotonic() >= self._recheck.get(name, 0.0)

    def _import(self, seen: Seen, emit: Emit) -> bool:
        """Run the importer on one file; False if the source is stopping."""
        path = seen.path
        try:
            outcome = self.importer.run(path, emit, seen.idle)
        except Stopping:
            return False
        except Exception:
            # A fault of ours or of the machine (a full disk): this file waits, the
            # others go on, and the source does not die.
            self.log.exception("importing %s failed; will try again", path)
            outcome = Outcome.RETRY
        self.outcomes[outcome.value] += 1
        self.context.count(f"files_{outcome.value}", 1)
        if outcome is Outcome.FAILED:
            self.context.report_error(
                "failed", f"{path.name} rejected: in {self.config.failed_dir}"
            )
        self._resume.discard(path.name)
        if outcome is Outcome.STOPPED:
            return False
        if outcome is Outcome.FOLLOWING:
            self._followed[path.name] = seen.stat
            if seen.idle >= self.config.finished_after.total_seconds():
                # Unchanged for long, but a process holds it open: look again later.
                self._recheck[path.name] = time.monotonic() + HELD_OPEN_RECHECK
            return True
        self._followed.pop(path.name, None)
        self._recheck.pop(path.name, None)
        if outcome is Outcome.RETRY:
            self._failed(path.name)
            self.watcher.forget(path)
        else:
            self._retries.pop(path.name, None)
        return True

    def busy(self) -> bool:
        """True while files are in hand: in the inbox and not waiting for a retry (being
        settled, imported or followed). ``wattbridge run --until-idle`` waits for them."""
        return self._in_hand

    def stop(self) -> None:
        """Make :meth:`start` return (after the chunk being emitted, if any)."""
        self._stop.set()

    def close(self) -> None:
        """Close the ledger."""
        self.ledger.close()

    # -- helpers -----------------------------------------------------------------

    def _wait_for_room(self) -> bool:
        """Block while an outbox is full; False if stopped meanwhile."""
        warned = False
        while not self.context.has_room():
            if not warned:
                self.log.info("an outbox is full: waiting before taking the next file")
                warned = True
            if self._stop.wait(0.2):
                return False
        return True

    def _due(self, name: str) -> bool:
        retry = self._retries.get(name)
        return retry is None or time.monotonic() >= retry.at

    def _failed(self, name: str) -> None:
        retry = self._retries.setdefault(name, _Retry())
        retry.failures += 1
        delay = min(RETRY_MAX, RETRY_INITIAL * 2 ** (retry.failures - 1))
        retry.at = time.monotonic() + delay
