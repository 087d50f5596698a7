"""Counters the runtime keeps (unrouted readings, skipped polls, source failures) and
writes to ``runtime.json`` in the state folder, so ``wattbridge status`` can show them."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from wattbridge._private import write_private

log = logging.getLogger("wattbridge._stats")


class Stats:
    """Thread-safe named counters and last errors, saved atomically to a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.counters: Counter[str] = Counter()
        self.errors: dict[str, dict[str, Any]] = {}
        self._save_failed = False
        if path is not None and path.exists():
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                self.counters.update(saved.get("counters", {}))
                self.errors.update(saved.get("errors", {}))
            except (OSError, ValueError):
                pass  # a damaged stats file only loses counters, never readings

    def add(self, name: str, amount: int = 1) -> int:
        """Add to a counter and return its new value."""
        with self._lock:
            self.counters[name] += amount
            return self.counters[name]

    def error(self, name: str, message: str | None) -> None:
        """Record (or with None, clear) the last error of a source or sink."""
        with self._lock:
            if message is None:
                self.errors.pop(name, None)
            else:
                self.errors[name] = {"message": message, "at": time.time()}

    def clear_errors(self) -> None:
        """Forget every last error (a new run: what is still wrong is reported again)."""
        with self._lock:
            self.errors.clear()

    def snapshot(self) -> dict[str, Any]:
        """The counters and errors as a JSON-ready dict."""
        with self._lock:
            return {"counters": dict(self.counters), "errors": dict(self.errors)}

    def save(self) -> None:
        """Write the snapshot atomically (write a temporary file, then rename it). A
        failure (a full disk) is logged once and tried again at the next save."""
        if self.path is None:
            return
        try:
            write_private(self.path, json.dumps(self.snapshot(), indent=1, sort_keys=True))
        except OSError as exc:
            if not self._save_failed:
                log.warning("cannot save the counters to %s: %s", self.path, exc)
            self._save_failed = True
            return
        self._save_failed = False


def load_stats(path: Path) -> dict[str, Any]:
    """Read a saved snapshot (empty when there is none)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data
    except (OSError, ValueError):
        return {"counters": {}, "errors": {}}
