"""Each entity's time of the last state change whose reading is durable in the outbox,
kept in a small JSON file, so that after a restart HA's recorder is read from there on
and nothing changed in between is missed.

Shared by the source (its state folder) and the custom component (its entry's folder).
The file is rewritten whole (write, then rename) after each emit; a lost or damaged
file costs a gap read from nowhere (the current states only), never a wrong reading.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from wattbridge_plugins.sources.homeassistant.states import parse_time


class DeliveredTimes:
    """Per entity, the time of its last change in the outbox; thread-safe."""

    def __init__(self, path: Path, logger: logging.Logger) -> None:
        self.path = path
        self.logger = logger
        self._times: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def load(self) -> bool:
        """Read the file (blocking); True if it held anything."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            self.logger.warning("ignoring %s: %s", self.path, exc)
            return False
        if not isinstance(data, dict):
            self.logger.warning("ignoring %s: not a JSON object", self.path)
            return False
        with self._lock:
            for entity_id, when in data.items():
                parsed = parse_time(when)
                if parsed is not None:
                    self._times[str(entity_id)] = parsed
            return bool(self._times)

    def times(self) -> dict[str, datetime]:
        """A copy of the times."""
        with self._lock:
            return dict(self._times)

    def update(self, changes: Iterable[tuple[str, datetime]]) -> None:
        """Take (entity, time) pairs now durable; a time older than the known one is
        ignored (a backfill or a history read may deliver old changes late)."""
        with self._lock:
            for entity_id, when in changes:
                known = self._times.get(entity_id)
                if known is None or when > known:
                    self._times[entity_id] = when

    def save(self) -> None:
        """Write the file (blocking); a failure is logged, not raised."""
        with self._lock:
            data = {entity: when.isoformat() for entity, when in self._times.items()}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data), encoding="utf-8")
            temporary.replace(self.path)
        except OSError as exc:
            self.logger.warning("could not save %s: %s", self.path, exc)

    def start_for(self, entity_ids: Iterable[str]) -> dict[str, datetime]:
        """Where each entity's gap read starts: its own time, or for an entity not
        seen before the oldest known time. Empty when nothing is known (a first run)."""
        times = self.times()
        if not times:
            return {}
        oldest = min(times.values())
        return {entity_id: times.get(entity_id, oldest) for entity_id in entity_ids}
