"""The ``csv-folder`` source: a pushed source that watches an inbox folder and imports
each settled CSV file with :class:`~.importer.Importer`, one file at a time.

It takes a new file only while every outbox its routes feed has room (backpressure: a
full outbox stops the intake, nothing is dropped), and a file that could not be
finished (vanished, changed, unreadable, or a fault of ours) is tried again with a
growing delay, while the other files go on.
"""

from __future__ import annotations

import threading
import time

import attrs

from wattbridge import Emit, SourceContext, Stopping
from wattbridge_plugins.sources.csv_folder.config import CsvFolderConfig
from wattbridge_plugins.sources.csv_folder.importer import Importer, Outcome
from wattbridge_plugins.sources.csv_folder.ledger import Ledger
from wattbridge_plugins.sources.csv_folder.watcher import Watcher

RETRY_INITIAL = 1.0
RETRY_MAX = 300.0


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
        )
        self._retries: dict[str, _Retry] = {}
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
                ready = self.watcher.scan()
            except OSError as exc:
                # A network share that is down: say so once, keep trying.
                if not inbox_trouble:
                    self.log.warning("cannot list %s: %s", self.config.inbox, exc)
                inbox_trouble = True
                self._stop.wait(interval)
                continue
            if inbox_trouble:
                self.log.info("%s can be listed again", self.config.inbox)
                inbox_trouble = False
            for path in ready:
                if self._stop.is_set() or not self._wait_for_room():
                    return
                if not self._due(path.name):
                    continue
                try:
                    outcome = self.importer.run(path, emit)
                except Stopping:
                    return
                except Exception:
                    # A fault of ours or of the machine (a full disk): this file waits, the
                    # others go on, and the source does not die.
                    self.log.exception("importing %s failed; will try again", path)
                    outcome = Outcome.RETRY
                self.outcomes[outcome.value] += 1
                if outcome is Outcome.STOPPED:
                    return
                if outcome is Outcome.RETRY:
                    self._failed(path.name)
                    self.watcher.forget(path)
                else:
                    self._retries.pop(path.name, None)
            self._stop.wait(interval)

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
