"""One import's lifecycle, resumable at every step.

create import -> get upload URL -> PUT file -> validate -> poll until ready ->
ingest -> poll until done. What is known (the import's id, whether the file is
uploaded, the last status seen, when to poll next) is saved after every step, so a
process killed at any point resumes the same import on the platform instead of
uploading a second copy. After a restart the import's status is read first, since
the platform may have moved on (or the answer to our last request was lost).

The one unavoidable gap: a crash after the platform created an import but before its
id was saved leaves an empty import (status ``stored``, no file) behind; the data is
then imported once, by the import that follows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from wattbridge_plugins.sinks.energydata.client import Client, PlatformError

WAITING_STATUSES = ("validating", "ingesting")


@attrs.define
class Part:
    """One import file and how far its import got. Saved as JSON in the sink's state."""

    key: str
    name: str
    file: str
    columns: list[str]
    rows: int
    import_id: int | None = None
    upload_url: str | None = None
    uploaded: bool = False
    status: str | None = None
    polls: int = 0
    next_poll: float = 0.0
    outcome: str | None = None  # "done" or "failed"
    errors: list[dict[str, Any]] = attrs.Factory(list)
    reason: str = ""
    synced: bool = attrs.field(default=False, metadata={"transient": True})

    def to_json(self) -> dict[str, Any]:
        """The saved form (without what only this process knows)."""
        return {
            f.name: getattr(self, f.name)
            for f in attrs.fields(Part)
            if not f.metadata.get("transient")
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Part:
        """Read :meth:`to_json`'s form back."""
        return cls(**data)

    def restart(self, reason: str) -> None:
        """Forget the platform's import (it vanished or failed): start a fresh one."""
        self.import_id = None
        self.upload_url = None
        self.uploaded = False
        self.status = None
        self.polls = 0
        self.next_poll = 0.0
        self.reason = reason


@attrs.define
class Lifecycle:
    """Moves parts through the import steps with ``client``; ``save()`` persists them."""

    client: Client
    errors_limit: int = attrs.field(kw_only=True)
    poll_initial: float = attrs.field(kw_only=True)
    poll_max: float = attrs.field(kw_only=True)
    log: logging.Logger = attrs.field(kw_only=True, alias="logger")
    clock: Callable[[], float] = attrs.field(default=time.time, kw_only=True)
    # Seconds a row took to validate and to ingest on the last import: the first
    # status poll of the next import is timed by it, so a big import is not polled
    # in vain (each poll costs the core a re-read of the batch from the outbox).
    _per_row: dict[str, float] = attrs.field(factory=dict, init=False)
    _entered: dict[int, tuple[str, float]] = attrs.field(factory=dict, init=False)

    def advance(self, part: Part, save: Callable[[], None]) -> None:
        """Take ``part`` as far as it goes without waiting. Raises PlatformError for a
        failure the caller turns into a retry or a halt; state is saved before that."""
        if part.outcome is not None:
            return
        if part.import_id is None:
            record = self.client.create_import(part.name)
            part.import_id = int(record["id"])
            part.status = str(record["status"])
            part.synced = True
            save()
            self.log.info(
                "import %d created for %s (%d rows)", part.import_id, part.file, part.rows
            )
        if not part.synced and not self._refresh(part, save):
            return
        while part.outcome is None:
            if part.import_id is None:
                return  # the import vanished; the next call starts a new one
            status = part.status
            if status == "stored":
                if not part.uploaded:
                    self._upload(part, save)
                self._request(part, save, "validate")
            elif status == "ready":
                self._request(part, save, "ingest")
            elif status in WAITING_STATUSES:
                if self.clock() < part.next_poll:
                    return
                before = status
                if not self._refresh(part, save):
                    return
                if part.status == before:
                    self._schedule_poll(part)
                    save()
                    return
            elif status == "done":
                part.outcome = "done"
                save()
                self.log.info("import %d done", part.import_id)
            else:
                # "failed", or any status the documentation does not name: a failure.
                part.outcome = "failed"
                part.reason = f"import {part.import_id} {status}"
                save()
                self.log.warning("import %d ended %s: %s", part.import_id, status, part.errors)

    def next_due(self, part: Part) -> float:
        """When this part wants to be advanced again."""
        return part.next_poll

    # -- steps ---------------------------------------------------------------------

    def _refresh(self, part: Part, save: Callable[[], None]) -> bool:
        """Read the import's status; False if the import is gone (it starts over)."""
        assert part.import_id is not None
        try:
            record = self.client.get_import(part.import_id)
        except PlatformError as exc:
            if exc.kind != "gone":
                raise
            self.log.warning("import %d is gone (%s); starting a new one", part.import_id, exc)
            part.restart(str(exc))
            save()
            return False
        self._adopt(part, record)
        part.synced = True
        save()
        return True

    def _adopt(self, part: Part, record: dict[str, Any]) -> None:
        status = str(record["status"])
        if status != part.status:
            self._learn(part, status)
            part.polls = 0
            self._schedule_poll(part, first=True)
        part.status = status
        errors = record.get("errors")
        if isinstance(errors, list):
            part.errors = [e for e in errors if isinstance(e, dict)][:1000]

    def _learn(self, part: Part, status: str) -> None:
        """Remember how long the stage just left took per row."""
        now = self.clock()
        key = part.import_id or 0
        entered = self._entered.pop(key, None)
        if entered is not None and entered[0] != status and part.rows:
            self._per_row[entered[0]] = (now - entered[1]) / part.rows
        if status in WAITING_STATUSES:
            self._entered[key] = (status, now)

    def _schedule_poll(self, part: Part, first: bool = False) -> None:
        # Exponential: a quick import is seen quickly, a long one is not polled in vain.
        delay = min(self.poll_max, self.poll_initial * 2**part.polls)
        if first and part.status in WAITING_STATUSES:
            expected = self._per_row.get(part.status or "", 0.0) * part.rows
            delay = max(self.poll_initial, min(self.poll_max, expected))
        part.polls += 1
        part.next_poll = self.clock() + delay

    def _upload(self, part: Part, save: Callable[[], None]) -> None:
        assert part.import_id is not None
        for attempt in (1, 2):
            if part.upload_url is None:
                part.upload_url = self.client.upload_url(part.import_id)
                save()
            try:
                self.client.put_file(part.upload_url, Path(part.file), part.import_id)
                break
            except PlatformError as exc:
                if exc.kind != "expired" or attempt == 2:
                    if exc.kind == "expired":
                        part.upload_url = None
                        save()
                    raise
                # A presigned URL lives a while only: get a fresh one for this import.
                self.log.info("upload URL of import %d expired; getting a new one", part.import_id)
                part.upload_url = None
                save()
        part.uploaded = True
        part.upload_url = None
        save()

    def _request(self, part: Part, save: Callable[[], None], step: str) -> None:
        assert part.import_id is not None
        try:
            if step == "validate":
                record = self.client.validate(part.import_id, self.errors_limit)
            else:
                record = self.client.ingest(part.import_id)
        except PlatformError as exc:
            if exc.kind == "conflict":
                # Our earlier request went through but its answer was lost: re-read.
                self._refresh(part, save)
                return
            if exc.kind == "invalid" and step == "validate" and part.uploaded:
                # E.g. "no file was uploaded": the upload did not land; do it again.
                part.uploaded = False
                save()
            raise
        self._adopt(part, record)
        save()
