"""The runtime: builds sources, sinks, outboxes and the bus from a config, and runs them.

Polled sources and sink flushes are APScheduler jobs; pushed sources run in threads of
their own. A source or sink that fails is logged, isolated and tried again with
backoff while the others go on. ``stop()`` (SIGINT/SIGTERM in ``run_forever``) stops
sources first, lets running flushes finish, and closes the outboxes: what was
accepted stays queued on disk for the next start.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from wattbridge._backoff import Backoff
from wattbridge._bus import Bus
from wattbridge._columns import ReadingColumns
from wattbridge._config import Config, SinkSpec, SourceSpec
from wattbridge._delivery import SinkWorker
from wattbridge._deliverystate import DeliveryState
from wattbridge._errors import Stopping
from wattbridge._grid import tick_at_or_before
from wattbridge._hookspecs import StartupView
from wattbridge._opensink import OpenedSink, build_from_spec
from wattbridge._outbox import Outbox, OutboxDamaged, OutboxStatus
from wattbridge._plugins import Registry
from wattbridge._private import private_dir
from wattbridge._readings import Reading
from wattbridge._secret import redact
from wattbridge._signals import stop_signals
from wattbridge._sinks import SinkAdapter
from wattbridge._sources import SourceAdapter, SourceContext
from wattbridge._statelock import lock_state_dir
from wattbridge._stats import Stats

log = logging.getLogger("wattbridge._runtime")

RESTART_INITIAL = 1.0
RESTART_MAX = 300.0
STATS_EVERY = timedelta(seconds=5)
WINDOWS_EVERY = timedelta(seconds=1)


def stats_path(state_dir: Path) -> Path:
    """Where the runtime's counters are saved."""
    return state_dir / "runtime.json"


_RESTART = Backoff(RESTART_INITIAL, RESTART_MAX, jitter=False)


class _Backoff:
    """Exponential restart delays for a failing source: 1s, 2s, 4s ... 5 min."""

    def __init__(self) -> None:
        self.failures = 0
        self.until = 0.0

    def failed(self) -> float:
        self.failures += 1
        delay = _RESTART.nominal(self.failures)
        self.until = time.monotonic() + delay
        return delay

    def succeeded(self) -> bool:
        """Reset; True if it had been failing."""
        was_failing = self.failures > 0
        self.failures = 0
        self.until = 0.0
        return was_failing

    @property
    def waiting(self) -> bool:
        return time.monotonic() < self.until


class Runtime:
    """Everything one config runs. Build with a loaded config and the plugin registry."""

    def __init__(self, config: Config, registry: Registry) -> None:
        self.config = config
        self.registry = registry
        self.state_dir = config.settings.state_dir
        private_dir(self.state_dir)
        # Before anything is opened: a second process on this folder must not touch it.
        self._state_lock = lock_state_dir(self.state_dir)
        self.stopping = threading.Event()
        self.stats = Stats(stats_path(self.state_dir))
        # The counters go on; the errors were the last run's: what is still wrong (a
        # meter down, a damaged outbox) is reported again by this one.
        self.stats.clear_errors()
        self.outboxes: dict[str, Outbox] = {}
        self.opened: dict[str, OpenedSink] = {}
        self.sinks: dict[str, SinkAdapter] = {}
        self.workers: dict[str, SinkWorker] = {}
        self.sources: dict[str, SourceAdapter] = {}
        self.damaged: dict[str, str] = {}
        """Sinks not started because their outbox file is damaged, and why."""
        self._threads: list[threading.Thread] = []
        self._unopened: dict[str, _Backoff] = {}
        self._scheduler: Any = None
        self._started = False
        try:
            for spec in config.sinks.values():
                self._build_sink(spec)
            self.bus = Bus(
                config.routes,
                self.outboxes,
                credentials={
                    name: sink.credential
                    for name, sink in self.sinks.items()
                    if sink.has_credentials
                },
                transform_hook=registry.hook.wattbridge_transform_reading,
                on_queued=self._queued,
                stats=self.stats,
                stopping=self.stopping,
            )
            for source_spec in config.sources.values():
                self._build_source(source_spec)
            self._share_rate_limits()
        except BaseException:
            self.close()
            raise

    # -- building ----------------------------------------------------------------

    def _build_sink(self, spec: SinkSpec) -> None:
        # Opened in start(): a sink that cannot open yet is retried by its flush job.
        try:
            opened = build_from_spec(
                self.config, spec, open=False, on_deadletter=self._deadlettered
            )
        except OutboxDamaged as exc:
            # This sink only: the others run. Its sources wait (no room), losing nothing.
            message = f"{exc}; run `wattbridge outbox recover {spec.name}` to salvage it"
            log.error("sink %s not started: %s", spec.name, message)
            self.stats.error(f"sink.{spec.name}.outbox", message)
            self.damaged[spec.name] = message
            return
        self.opened[spec.name] = opened
        self.outboxes[spec.name] = opened.outbox
        self.sinks[spec.name] = opened.sink
        self.workers[spec.name] = opened.worker

    def _build_source(self, spec: SourceSpec) -> None:
        source_dir = self.state_dir / "sources" / spec.name
        private_dir(source_dir)
        context = SourceContext(
            spec.name,
            source_dir,
            logging.getLogger(f"wattbridge.source.{spec.name}"),
            has_room=functools.partial(self.bus.has_room, spec.name),
            report_error=functools.partial(self._source_part_error, spec.name),
            count=functools.partial(self.count, spec.name),
        )
        self.sources[spec.name] = SourceAdapter(spec.type.factory(spec.config, context))

    def _share_rate_limits(self) -> None:
        """Ask plugins where each rate-limited sink's request stamps are shared."""
        sources = MappingProxyType({n: s.plugin for n, s in self.sources.items()})
        for name, worker in self.workers.items():
            if worker.min_interval:
                worker.shared = self.registry.hook.wattbridge_shared_rate_limits(
                    sink=name, sources=sources
                )
                if worker.shared is not None:
                    log.info("sink %s: request stamps are shared with other processes", name)

    @property
    def view(self) -> StartupView:
        """The read-only view the startup and shutdown hooks get."""
        return StartupView(
            sources=MappingProxyType({n: s.config for n, s in self.config.sources.items()}),
            sinks=MappingProxyType({n: s.config for n, s in self.config.sinks.items()}),
            state_dir=self.config.state_dir,
        )

    # -- running -----------------------------------------------------------------

    def emit(self, source: str, readings: Iterable[Reading]) -> None:
        """Queue readings as if ``source`` had emitted them (for tests and commands)."""
        self.bus.emit(source, readings)

    def start(self) -> None:
        """Open sinks, call the startup hook, start the scheduler and pushed sources."""
        from wattbridge._scheduler import Scheduler  # APScheduler only when running

        for name in self.sinks:
            for reason in DeliveryState(self.outboxes[name]).lift_halts():
                log.info("sink %s: trying again what was halted (%s)", name, reason)
            self._open_sink(name)
        self.registry.hook.wattbridge_startup(view=self.view)
        polled = {n: s for n, s in self.sources.items() if s.polled}
        pushed = {n: s for n, s in self.sources.items() if n not in polled}
        self._scheduler = Scheduler(workers=len(polled) + len(self.sinks) + 2)
        for name, worker in self.workers.items():
            spec = self.config.sinks[name]
            self._scheduler.every(
                f"flush:{name}", spec.common.flush_interval, lambda w=worker: self._flush(w)
            )
        for name, source in polled.items():
            interval = self.config.sources[name].common.interval
            backoff = _Backoff()
            self._scheduler.on_grid(
                f"poll:{name}", interval, lambda n=name, s=source, b=backoff: self._poll(n, s, b)
            )
        self._scheduler.every("stats", STATS_EVERY, self.stats.save, now=False)
        if any(route.resample is not None for route in self.config.routes):
            # Closes the windows of a source gone quiet, grace after their end.
            self._scheduler.every("resample", WINDOWS_EVERY, self._close_windows)
        self._scheduler.start()
        for name, source in pushed.items():
            thread = threading.Thread(
                target=self._run_pushed, args=(name, source), name=f"source:{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        self._started = True
        log.info(
            "running: %d source(s), %d sink(s), state in %s",
            len(self.sources),
            len(self.sinks),
            self.state_dir,
        )

    def stop(self, timeout: float = 30.0) -> None:
        """Stop sources, let running flushes end, call the shutdown hook, close everything."""
        if self.stopping.is_set() and not self._started:
            return
        self.stopping.set()
        for name, source in self.sources.items():
            if not source.polled:
                try:
                    source.stop()
                except Exception:
                    log.exception("stopping source %s failed", name)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("source thread %s did not stop in time", thread.name)
        for sink in self.sinks.values():  # a send waiting on a slow platform returns now
            sink.interrupt()
        if self._scheduler is not None:
            self._scheduler.shutdown()
        if self._started:
            try:
                self.registry.hook.wattbridge_shutdown(view=self.view)
            except Exception:
                log.exception("a shutdown hook failed")
        self._started = False
        self.close()

    def close(self) -> None:
        """Close sources, sinks and outboxes (without the stop sequence)."""
        for name, source in self.sources.items():
            try:
                source.close()
            except Exception:
                log.exception("closing source %s failed", name)
        for name, opened in self.opened.items():
            try:
                opened.close()  # the sink, then its outbox
            except Exception:
                log.exception("closing sink %s failed", name)
        self.stats.save()
        self.opened = {}
        self.outboxes = {}
        self._state_lock.release()

    def sink_statuses(self) -> dict[str, OutboxStatus]:
        """Each sink's outbox status, now (for ``/metrics`` and ``/healthz``)."""
        return {name: outbox.status() for name, outbox in list(self.outboxes.items())}

    def idle_for(self) -> float:
        """Seconds since readings were last queued, or 0 while any outbox holds some or
        any source has work in hand."""
        if any(outbox.depth for outbox in self.outboxes.values()):
            return 0.0
        if any(source.busy for source in self.sources.values()):
            return 0.0
        return time.monotonic() - self.bus.last_emit

    def run_forever(self, until_idle: float | None = None) -> None:
        """Start, wait for SIGINT or SIGTERM (or, with ``until_idle``, for every outbox
        to be empty and no reading queued for that many seconds), and stop cleanly."""
        stop_requested = threading.Event()
        with stop_signals(stop_requested):
            try:
                self.start()
                while not stop_requested.wait(0.2):
                    if until_idle is not None and self.idle_for() >= until_idle:
                        log.info("idle for %.0fs with every outbox empty: stopping", until_idle)
                        break
            finally:
                self.stop()

    def flush_all(self) -> int:
        """Run one flush of every sink now, in this thread; returns readings settled."""
        return sum(self._flush(worker) for worker in self.workers.values())

    # -- jobs --------------------------------------------------------------------

    def _open_sink(self, name: str) -> bool:
        """Open a sink; a failure is logged and retried with backoff by its flush job."""
        backoff = self._unopened.get(name)
        if backoff is not None and backoff.waiting:
            return False
        try:
            self.sinks[name].open()
        except Exception as exc:
            backoff = self._unopened.setdefault(name, _Backoff())
            delay = backoff.failed()
            message = redact(f"{type(exc).__name__}: {exc}")
            self.stats.error(f"sink.{name}", message)
            DeliveryState(self.outboxes[name]).error(f"cannot open: {message}", time.time())
            log.error("sink %s cannot open: %s; retrying in %.0fs", name, message, delay)
            return False
        if self._unopened.pop(name, None) is not None:
            log.info("sink %s open", name)
            self.stats.error(f"sink.{name}", None)
        return True

    def _flush(self, worker: SinkWorker) -> int:
        if worker.name in self._unopened and not self._open_sink(worker.name):
            return 0
        try:
            settled = worker.flush(self.stopping)
        except Exception as exc:
            # A broken sink (or a full disk) must not stop the scheduler; try next time.
            log.exception("flushing sink %s failed", worker.name)
            self.stats.error(f"sink.{worker.name}", redact(f"{type(exc).__name__}: {exc}"))
            return 0
        self._show_stall(worker)
        return settled

    def _close_windows(self) -> None:
        try:
            self.bus.close_windows()
        except Exception as exc:
            # A full disk must not stop the scheduler; the windows stay open, try again.
            log.exception("closing resampling windows failed")
            self.stats.error("resample", redact(f"{type(exc).__name__}: {exc}"))

    def _show_stall(self, worker: SinkWorker) -> None:
        """Put a sink's "cannot record progress" or "outbox deleted" in status (its outbox
        cannot show it)."""
        key = f"sink.{worker.name}.outbox"
        problem = worker.lost_outbox or worker.stalled
        if problem is not None:
            if self.stats.errors.get(key, {}).get("message") != problem:
                self.stats.error(key, problem)
        elif key in self.stats.errors:
            self.stats.error(key, None)

    def _queued(self, sink: str) -> None:
        worker = self.workers[sink]
        if (
            self._scheduler is not None
            and not worker.busy
            and self.outboxes[sink].depth >= worker.batch_size
        ):
            self._scheduler.run_soon(f"flush:{sink}")

    def _poll(self, name: str, source: SourceAdapter, backoff: _Backoff) -> None:
        if self.stopping.is_set() or backoff.waiting:
            return
        common = self.config.sources[name].common
        tick = tick_at_or_before(datetime.now(UTC), common.interval)
        if not self.bus.has_room(name):
            skipped = self.stats.add(f"source.{name}.polls_skipped")
            if skipped == 1 or skipped % 100 == 0:
                log.warning("source %s: outbox full, poll skipped (%d so far)", name, skipped)
            return
        try:
            readings = list(source.poll())
        except Exception as exc:
            delay = backoff.failed()
            message = redact(f"{type(exc).__name__}: {exc}")
            self.stats.add(f"source.{name}.failures")
            self.stats.error(f"source.{name}", message)
            if backoff.failures == 1:
                log.warning("source %s failed: %s; retrying in %.0fs", name, message, delay)
            else:
                log.info("source %s still failing (%d): %s", name, backoff.failures, message)
            return
        if common.timestamp == "scheduled":
            readings = [attrs.evolve(reading, timestamp=tick) for reading in readings]
        if backoff.succeeded():
            log.info("source %s recovered", name)
            self.stats.error(f"source.{name}", None)
        try:
            self.bus.emit(name, readings)
        except Stopping:
            return
        self.stats.add(f"source.{name}.readings", len(readings))

    def _run_pushed(self, name: str, source: SourceAdapter) -> None:
        backoff = _Backoff()

        overflow = not source.pausable

        def emit(readings: Iterable[Reading]) -> None:
            # Columns go to the bus as they are: a list would make a Reading a value.
            items = readings if isinstance(readings, ReadingColumns) else list(readings)
            self.bus.emit(name, items, overflow=overflow)
            self.stats.add(f"source.{name}.readings", len(items))
            if backoff.failures:  # it restarted and delivers again: healthy (status, /healthz)
                backoff.succeeded()
                self.stats.error(f"source.{name}", None)

        while not self.stopping.is_set():
            started = time.monotonic()
            try:
                source.start(emit)
                if self.stopping.is_set():
                    return
                raise RuntimeError("start() returned before stop() was called")
            except Stopping:
                return
            except Exception as exc:
                if self.stopping.is_set():
                    return
                if time.monotonic() - started > 60:
                    backoff.succeeded()  # it ran a good while: start the backoff afresh
                delay = backoff.failed()
                message = redact(f"{type(exc).__name__}: {exc}")
                self.stats.add(f"source.{name}.failures")
                self.stats.error(f"source.{name}", message)
                log.warning("source %s failed: %s; restarting in %.0fs", name, message, delay)
                self.stopping.wait(delay)

    def _source_part_error(self, source: str, part: str, message: str | None) -> None:
        self.stats.error(f"source.{source}.{part}", redact(message) if message else None)

    def count(self, source: str, name: str, amount: int) -> None:
        """Add ``amount`` to the source's counter ``name`` (shown by ``wattbridge status``)."""
        self.stats.add(f"source.{source}.{name}", amount)

    def _deadlettered(self, sink: str, readings: list[Reading], reason: str) -> None:
        self.stats.add(f"sink.{sink}.deadlettered", len(readings))
        try:
            self.registry.hook.wattbridge_deadlettered(sink=sink, readings=readings, reason=reason)
        except Exception:
            log.exception("a wattbridge_deadlettered hook failed")
