"""The ``replay`` source, for demos, tests and load tests.

With ``path`` it emits the readings of a JSON-lines file (the ``jsonl`` sink's format),
in chunks; without it, it generates readings: ``count`` of them (or forever), ``rate``
a second (0: as fast as the outboxes take them), cycling through ``streams``, the
n-th reading stamped ``start + n * step``. Either way it remembers, in its state
folder, how far it got once a chunk is durable, so a restart goes on from there; a
crash between the two repeats at most one chunk, which the platforms overwrite.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from wattbridge import DataError, Emit, InvalidReading, Reading, SourceContext, write_private
from wattbridge_plugins.sources.replay.config import ReplayConfig


class ReplaySource:
    """A pushed source that replays a file or generates readings; see the module doc."""

    def __init__(self, config: ReplayConfig, context: SourceContext) -> None:
        if not config.streams:
            raise ValueError("streams: give at least one stream name")
        self.config = config
        self.context = context
        self._progress_file = context.state_dir / "progress.json"
        self._stop = threading.Event()

    # -- progress ------------------------------------------------------------------

    def _load_progress(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._progress_file.read_text(encoding="utf-8"))
            return data
        except (OSError, ValueError):
            return {}

    def _save_progress(self, progress: dict[str, Any]) -> None:
        write_private(self._progress_file, json.dumps(progress))

    # -- running -------------------------------------------------------------------

    def start(self, emit: Emit) -> None:
        """Emit until done (then idle) or until :meth:`stop`."""
        self._stop.clear()
        if self.config.path is not None:
            self._replay_file(emit, self.config.path)
        else:
            self._generate(emit)
        self._stop.wait()

    def stop(self) -> None:
        """Make :meth:`start` return."""
        self._stop.set()

    def _replay_file(self, emit: Emit, path: Path) -> None:
        progress = self._load_progress()
        offset = int(progress.get("offset", 0)) if progress.get("path") == str(path) else 0
        line_number = int(progress.get("line", 0)) if offset else 0
        with path.open("rb") as handle:
            handle.seek(offset)
            chunk: list[Reading] = []
            while not self._stop.is_set():
                raw = handle.readline()
                if raw:
                    line_number += 1
                    reading = self._parse_line(path, line_number, raw)
                    if reading is not None:
                        chunk.append(reading)
                    if len(chunk) < self.config.chunk:
                        continue
                if chunk:
                    emit(chunk)
                    self._pace(len(chunk))
                    chunk = []
                # Only now is everything up to here durable in the outboxes.
                self._save_progress(
                    {"path": str(path), "offset": handle.tell(), "line": line_number}
                )
                if not raw:
                    return

    def _parse_line(self, path: Path, line_number: int, raw: bytes) -> Reading | None:
        if not raw.strip():
            return None
        try:
            return Reading.from_dict(json.loads(raw))
        except (ValueError, InvalidReading) as exc:
            error = DataError(f"{path}:{line_number}", str(exc))
            self.context.logger.error("skipping a bad line: %s", error)
            self.context.count("rejected", 1)
            return None

    def _generate(self, emit: Emit) -> None:
        config = self.config
        progress = self._load_progress()
        start = progress.get("start") or config.start or datetime.now(UTC).isoformat()
        origin = datetime.fromisoformat(start)
        if origin.tzinfo is None:
            raise ValueError(f"start {start!r} needs a time zone, e.g. {start}+00:00")
        done = int(progress.get("done", 0))
        while not self._stop.is_set() and (config.count is None or done < config.count):
            size = config.chunk if config.count is None else min(config.chunk, config.count - done)
            emit(list(self._readings(origin, done, size)))
            done += size
            self._save_progress({"start": start, "done": done})
            self._pace(size)

    def _readings(self, origin: datetime, first: int, size: int) -> Iterator[Reading]:
        streams = self.config.streams
        for n in range(first, first + size):
            yield Reading(
                stream=streams[n % len(streams)],
                timestamp=origin + n * self.config.step,
                value=round(1000 + 500 * math.sin(n / 60), 3),
                unit=self.config.unit,
            )

    def _pace(self, emitted: int) -> None:
        if self.config.rate > 0:
            self._stop.wait(emitted / self.config.rate)
