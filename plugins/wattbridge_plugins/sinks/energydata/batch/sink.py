"""The ``energydata-batch`` sink: queued readings become EnergyData.dk batch imports.

One batch (at most ``import_size`` readings) is one import per part (see
:mod:`.plan`). The batch's progress is kept in the sink's durable state under the key
``inflight``: which queued readings it covers (the first and last queue id and their
count) and each part's lifecycle (see :mod:`.lifecycle`). While it is under way,
``send`` answers ``in_progress`` with the time of the next status poll; later calls
(after a restart too) continue it. Readings queued meanwhile join the queue behind it
and are left for the next import, even when the core hands them over in the same
batch.

When every part has finished, the batch's readings are settled: those of finished
imports are acknowledged, those the platform refused are dead-lettered with its own
message (line by line where it names lines), and readings of a failed import that the
platform did not blame are left queued, for the next import. The finished state is
kept until the core has applied that result, so a crash in between repeats the
answer, not the import.
"""

from __future__ import annotations

import bisect
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import attrs

from wattbridge import Batch, ReadingColumns, SendResult, SinkContext, SinkLimits, private_dir
from wattbridge_plugins.common.energydata_csv import iter_records, parse_timestamp
from wattbridge_plugins.sinks.energydata.batch.config import EnergyDataBatchConfig
from wattbridge_plugins.sinks.energydata.batch.lifecycle import Lifecycle, Part
from wattbridge_plugins.sinks.energydata.batch.plan import Layout, lay_out, write_part
from wattbridge_plugins.sinks.energydata.client import Client, PlatformError

STATE_KEY = "inflight"


@attrs.define
class Inflight:
    """The batch under way: the queue ids it covers and its parts."""

    first: int
    last: int
    count: int
    parts: list[Part]
    finished: bool = False

    def to_json(self) -> str:
        """The saved form."""
        return json.dumps(
            {
                "first": self.first,
                "last": self.last,
                "count": self.count,
                "finished": self.finished,
                "parts": [p.to_json() for p in self.parts],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Inflight:
        """Read :meth:`to_json`'s form back."""
        data = json.loads(text)
        parts = [Part.from_json(p) for p in data.pop("parts")]
        return cls(parts=parts, **data)


class EnergyDataBatchSink:
    """Delivers readings through EnergyData.dk's batch-import API; see the module doc."""

    def __init__(self, config: EnergyDataBatchConfig, context: SinkContext) -> None:
        self.config = config
        self.context = context
        self.log = context.logger
        self.limits = SinkLimits(max_batch=config.import_size)
        self.client = Client(config.url, config.token, config.timeout.total_seconds(), config)
        self.lifecycle = Lifecycle(
            self.client,
            errors_limit=config.errors_limit,
            poll_initial=config.poll_initial.total_seconds(),
            poll_max=config.poll_max.total_seconds(),
            logger=self.log,
        )
        self.work_dir = context.state_dir / "imports"
        self._inflight: Inflight | None = None
        self._loaded = False
        # The layout made when planning, kept for settling (first queue id, layout).
        self._layout: tuple[int, Layout] | None = None

    def interrupt(self) -> None:
        """Cut a request in progress: wattbridge stops (its batch becomes a retry)."""
        self.client.interrupt()

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    # -- state -----------------------------------------------------------------------

    def _load(self) -> Inflight | None:
        if not self._loaded:
            text = self.context.state.get(STATE_KEY)
            self._inflight = Inflight.from_json(text) if text else None
            self._loaded = True
        return self._inflight

    def _save(self) -> None:
        inflight = self._inflight
        self.context.state.set(STATE_KEY, inflight.to_json() if inflight else None)

    def _discard(self) -> None:
        if self._inflight is not None:
            for part in self._inflight.parts:
                Path(part.file).unlink(missing_ok=True)
        self._inflight = None
        self._layout = None
        self._save()

    # -- sending -----------------------------------------------------------------------

    def preview(self, batch: Batch) -> Iterator[tuple[str, str]]:
        """The import files ``send`` would upload (written by the same code, into a
        temporary folder), and the readings it would refuse."""
        readings = batch.columns
        layout = lay_out(readings, self.config.datastreams)
        with tempfile.TemporaryDirectory(prefix="wattbridge-preview-") as folder:
            for number, (key, columns) in enumerate(layout.parts.items()):
                path = Path(folder) / f"part-{number}.csv"
                write_part(path, columns, readings, layout.members[key], self.config.datastreams)
                name = f"{self.config.import_name}-{batch.ids[0]}-{number}"
                yield (
                    f"import {name!r} to {self.config.url} (CSV file)",
                    path.read_text(encoding="utf-8"),
                )
        for index, reason in sorted(layout.rejected.items()):
            yield f"not imported: {readings.streams[index]}", reason

    def send(self, batch: Batch) -> SendResult:
        """Start, continue or settle the import of ``batch``; see the module doc."""
        types = self.config.datastreams
        readings = batch.columns
        inflight = self._load()
        if inflight is not None:
            covered = bisect.bisect_right(list(batch.ids), inflight.last)
            same_start = bool(batch.ids) and batch.ids[0] == inflight.first
            if not same_start or (inflight.finished and covered != inflight.count):
                # Its readings were settled (or removed from the queue): it is over.
                self._discard()
                inflight = None
        if inflight is None:
            layout = lay_out(readings, types)
            if not layout.parts:
                return SendResult.partial(
                    rejected=layout.rejected,
                    reason=next(iter(layout.rejected.values()), ""),
                    requested=False,
                )
            inflight = self._plan(batch, readings, layout)
            covered = len(batch)
        else:
            layout = None  # only settling needs it: polls skip the work
        if not inflight.finished:
            try:
                for part in inflight.parts:
                    self.lifecycle.advance(part, self._save)
            except PlatformError as exc:
                if exc.kind == "halt":
                    return SendResult.halted(str(exc))
                return SendResult.partial(
                    retry=range(covered), reason=str(exc), not_before=exc.not_before
                )
            waiting = [p for p in inflight.parts if p.outcome is None]
            if waiting:
                wake = max(min(p.next_poll for p in waiting), time.time())
                statuses = ", ".join(f"{p.import_id}: {p.status}" for p in waiting)
                return SendResult.in_progress(
                    f"import(s) under way ({statuses})", datetime.fromtimestamp(wake, UTC)
                )
            inflight.finished = True
            self._save()
        if layout is None:
            kept = self._layout
            if kept is not None and kept[0] == inflight.first and covered == inflight.count:
                layout = kept[1]
            else:
                layout = lay_out(readings[:covered], types)
        return self._settle(readings, covered, layout, inflight)

    def _plan(self, batch: Batch, readings: ReadingColumns, layout: Layout) -> Inflight:
        private_dir(self.work_dir)
        first = batch.ids[0]
        parts = []
        for number, (key, columns) in enumerate(layout.parts.items()):
            path = self.work_dir / f"{first}-{number}.csv"
            rows = write_part(path, columns, readings, layout.members[key], self.config.datastreams)
            name = f"{self.config.import_name}-{first}-{number}"
            parts.append(Part(key=key, name=name, file=str(path), columns=columns, rows=rows))
        self._inflight = Inflight(first, batch.ids[-1], len(batch), parts)
        self._save()
        self._layout = (first, layout)
        return self._inflight

    def _settle(
        self, readings: ReadingColumns, covered: int, layout: Layout, inflight: Inflight
    ) -> SendResult:
        """The per-reading result once every part has finished."""
        ok: list[int] = []
        rejected = {i: r for i, r in layout.rejected.items() if i < covered}
        blamed: dict[int, str] = {}
        parts = {p.key: p for p in inflight.parts}
        streams, stamps = readings.streams, readings.stamps
        for key, members in layout.members.items():
            part = parts.get(key)
            if part is None:
                continue  # the config changed since: leave it for the next import
            by_row, by_stream, whole = _blame(part)
            if part.outcome == "done" and not (by_row or by_stream or whole):
                ok += members  # a part done without errors takes all its readings
                continue
            for index in members:
                why = by_stream.get(streams[index]) or by_row.get(stamps[index] // 1000)
                if why:
                    blamed[index] = f"{part.reason or 'import ' + str(part.import_id)}: {why}"
                elif part.outcome == "done":
                    ok.append(index)
                elif whole:
                    blamed[index] = whole
        # In the batch's order, after those refused before sending, as the reason's pick.
        rejected.update(sorted(blamed.items()))
        reason = next(iter(rejected.values()), "")
        if rejected:
            self.log.warning("%d reading(s) refused: %s", len(rejected), reason)
        return SendResult.partial(ok=ok, rejected=rejected, reason=reason)


def _blame(part: Part) -> tuple[dict[int, str], dict[str, str], str]:
    """What the platform's errors for ``part`` refuse: rows (by epoch ms), whole
    datastreams (a header error naming one), or, when it names nothing we can place,
    the whole part (the third item, "" if not)."""
    if not part.errors and part.outcome == "done":
        return {}, {}, ""
    lines: dict[int, str] = {}
    by_stream: dict[str, str] = {}
    loose: list[str] = []
    for error in part.errors:
        message = str(error.get("message", error))
        line = error.get("line")
        stream = error.get("datastream")
        if isinstance(stream, str) and stream in part.columns:
            by_stream[stream] = f"datastream {stream}: {message}"
        elif isinstance(line, int) and line > 1:
            lines[line] = f"line {line}: {message}"
        else:
            loose.append(f"line {line}: {message}" if line else message)
    by_row = _rows_of_lines(Path(part.file), lines)
    if part.outcome == "done" or by_row or by_stream:
        return by_row, by_stream, ""
    details = "; ".join(loose) or "the platform gave no details"
    return by_row, by_stream, f"{part.reason or 'import failed'}: {details}"


def _rows_of_lines(path: Path, lines: dict[int, str]) -> dict[int, str]:
    """Map the platform's line numbers to our rows' timestamps, by re-reading our file."""
    if not lines or not path.exists():
        return {}
    found: dict[int, str] = {}
    wanted = defaultdict(str, lines)
    with path.open("r", encoding="utf-8", newline="") as handle:
        for line, fields, _quoted in iter_records(handle, path.name):
            if line in wanted and line > 1:
                try:
                    found[parse_timestamp(fields[0])] = wanted[line]
                except ValueError:
                    continue
    return found
