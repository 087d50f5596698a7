"""``wattbridge run`` as a service: the runtime, the metrics endpoint, SIGHUP reloads and
dead-letter retention around it.

SIGHUP reads the config again. A config with mistakes is refused (logged with every
mistake) and the running one goes on untouched. A good one replaces the running one:
sources and sinks are stopped and built anew, while the outboxes stay on disk, so every
queued reading, dead letter, backoff and rate-limit stamp carries over. Should the new
config fail to start all the same (a plugin that raises when built), the old one is
started again. SIGINT or SIGTERM stop cleanly; a second one stops at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from wattbridge._config import Config, ConfigError
from wattbridge._http import MetricsServer
from wattbridge._plugins import Registry
from wattbridge._runtime import Runtime
from wattbridge._signals import stop_signals

log = logging.getLogger("wattbridge._reload")

RETENTION_EVERY = timedelta(hours=1)
"""How often dead letters past ``dead_letter_retention`` are deleted."""


def purge_expired(runtime: Runtime, retention: timedelta) -> int:
    """Delete the runtime's dead letters older than ``retention``; returns how many."""
    cutoff = time.time() - retention.total_seconds()
    purged = 0
    for name, outbox in list(runtime.outboxes.items()):
        count = outbox.purge_dead_letters(cutoff)
        if count:
            log.info("sink %s: %d dead letter(s) older than %s deleted", name, count, retention)
        purged += count
    return purged


class Service:
    """Runs one config at a time until stopped; :meth:`reload` swaps the config."""

    def __init__(
        self,
        config: Config,
        registry: Registry,
        load: Callable[[], Config],
        on_config: Callable[[Config], None] = lambda config: None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.load = load
        self.on_config = on_config
        self.runtime: Runtime | None = None
        self.http: MetricsServer | None = None
        self.stop_requested = threading.Event()
        self.reload_requested = threading.Event()
        self.reloads = 0
        """Reloads that took effect (for tests and the log)."""
        self._next_purge = 0.0

    def current(self) -> Runtime | None:
        """The runtime now running (None between stopping one and starting the next)."""
        return self.runtime

    def _start(self, config: Config) -> None:
        runtime = Runtime(config, self.registry)
        try:
            runtime.start()
        except BaseException:
            runtime.stop()
            raise
        self.runtime = runtime
        self.config = config
        self._next_purge = 0.0

    def _stop_runtime(self) -> None:
        runtime, self.runtime = self.runtime, None
        if runtime is not None:
            runtime.stop()

    def reload(self) -> bool:
        """Read the config again and run it; False (the old one still running) if it has
        mistakes or does not start."""
        try:
            new = self.load()
        except ConfigError as exc:
            log.error("reload refused, the running config goes on: %s", exc)
            return False
        for warning in new.warnings:
            log.warning("%s", warning)
        if new.settings.http != self.config.settings.http:
            log.warning("[wattbridge.http] changed: it takes effect at the next restart")
        old = self.config
        log.info("reloading %s", new.path)
        self._stop_runtime()
        try:
            self._start(new)
        except Exception as exc:
            log.error(
                "reload failed (%s: %s); starting the previous config again",
                type(exc).__name__,
                exc,
            )
            self._start(old)
            return False
        self.on_config(new)
        self.reloads += 1
        log.info("reloaded: %d source(s), %d sink(s)", len(new.sources), len(new.sinks))
        return True

    def run(self, until_idle: float | None = None) -> None:
        """Start, then serve signals until SIGINT/SIGTERM (or idle, with ``until_idle``)."""
        with stop_signals(self.stop_requested, self.reload_requested):
            self._serve(until_idle)

    def _serve(self, until_idle: float | None) -> None:
        try:
            if self.config.settings.http is not None:
                self.http = MetricsServer(self.config.settings.http, self.current)
                self.http.start()
            self._start(self.config)
            while not self.stop_requested.wait(0.2):
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    log.info("SIGHUP received: reading the config again")
                    self.reload()
                self._retention()
                runtime = self.runtime
                if until_idle is not None and runtime and runtime.idle_for() >= until_idle:
                    log.info("idle for %.0fs with every outbox empty: stopping", until_idle)
                    break
        finally:
            self._stop_runtime()
            if self.http is not None:
                self.http.stop()

    def _retention(self) -> None:
        retention = self.config.settings.dead_letter_retention
        runtime = self.runtime
        if retention is None or runtime is None or time.monotonic() < self._next_purge:
            return
        self._next_purge = time.monotonic() + RETENTION_EVERY.total_seconds()
        try:
            purge_expired(runtime, retention)
        except Exception:
            log.exception("deleting old dead letters failed; trying again later")
