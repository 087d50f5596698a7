"""Building one sink of a config outside the scheduler: its outbox, its plugin instance
behind :class:`~wattbridge._sinks.SinkAdapter`, and the worker that drains the outbox.

This is the one way a sink is built: the runtime, ``wattbridge import``, the test
harness and the Home Assistant component all come through :func:`build_sink`, so a
sink behaves the same under each.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs

from wattbridge import _exitcodes as exitcodes
from wattbridge._config import Config, SinkSpec
from wattbridge._delivery import Clock, SinkWorker
from wattbridge._errors import CommandFailed
from wattbridge._outbox import DeadLetter, Outbox, OutboxState, OutboxStatus
from wattbridge._plugins import PluginType
from wattbridge._private import private_dir
from wattbridge._readings import Reading
from wattbridge._sinks import SinkAdapter, SinkContext, SinkState

OnDeadLetter = Callable[[str, list[Reading], str], None]
"""Called with the sink's name, the readings and the reason when readings dead-letter."""


def outbox_path(state_dir: Path, sink: str) -> Path:
    """Where the outbox of ``sink`` lives."""
    return state_dir / "outbox" / f"{sink}.sqlite"


@attrs.define
class OpenedSink:
    """One built sink: put readings in its outbox and flush them to the platform.

    Build it with :func:`open_sink` (from a config) and close it when done (or use it as
    a context manager). The outbox is the same file the daemon uses, so what a command
    queues here is delivered by ``wattbridge run`` later if it is not delivered now.
    ``config`` is the sink's plugin config; ``state`` its durable key-value state (the
    keys its plugin also sees).
    """

    name: str
    config: Any
    sink: SinkAdapter
    outbox: Outbox
    worker: SinkWorker
    state: SinkState = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.state = OutboxState(self.outbox)

    # -- queueing ----------------------------------------------------------------

    def put(self, readings: Sequence[Reading]) -> None:
        """Queue ``readings`` durably (in one transaction), as the bus would."""
        if self.sink.has_credentials:
            self.outbox.put(readings, [self.sink.credential(r) for r in readings])
        else:
            self.outbox.put(readings)

    def queued(self) -> Iterator[Reading]:
        """The readings waiting to be sent, oldest first."""
        return self.outbox.iter_queued()

    @property
    def depth(self) -> int:
        """Readings waiting to be sent."""
        return self.outbox.depth

    # -- sending -------------------------------------------------------------------

    def flush(self, stop: threading.Event | None = None) -> int:
        """Send what is due now (never sleeps); returns readings settled."""
        return self.worker.flush(stop)

    def next_due(self) -> float | None:
        """When (epoch seconds) something may be sent next; None when nothing waits."""
        return self.worker.next_due()

    def drain(self, until_depth: int = 0, timeout: float | None = None) -> None:
        """Flush, waiting out backoff and rate limits, until at most ``until_depth``
        readings are queued. Raises :class:`CommandFailed` when the platform refused the
        credentials (a halt) or ``timeout`` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        next_look = 0.0
        while True:
            self.flush()
            if self.depth <= until_depth:
                return
            if time.monotonic() >= next_look:
                # status() counts the whole queue (hundreds of thousands of rows in an
                # import): once a second is soon enough to see a halt.
                halted = self.status().halted
                if halted:
                    raise CommandFailed(f"sending stopped: {halted}", exitcodes.FAILURE)
                next_look = time.monotonic() + 1.0
            if deadline is not None and time.monotonic() > deadline:
                status = self.status()
                raise CommandFailed(
                    f"{status.depth} reading(s) still queued after {timeout}s; "
                    f"last error: {status.last_error}",
                    exitcodes.FAILURE,
                )
            due = self.next_due()
            wait = 0.05 if due is None else due - time.time()
            time.sleep(min(0.5, max(0.005, wait)))

    # -- status ----------------------------------------------------------------------

    def status(self) -> OutboxStatus:
        """Depth, last success and error, halts, dead letters."""
        return self.outbox.status()

    def settled(self) -> int:
        """Readings delivered or dead-lettered so far (ever)."""
        status = self.status()
        return status.sent_total + status.dead_letters

    def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """Readings the platform refused, with their reasons."""
        return self.outbox.dead_letters(limit)

    def replay(self, ids: Sequence[int] | None = None) -> int:
        """Move dead letters (all, or those with ``ids``) back to the queue, with
        credentials assigned by the sink as now configured; returns how many moved."""
        credential = self.sink.credential if self.sink.has_credentials else None
        return self.outbox.replay(ids, credential=credential)

    # -- closing -------------------------------------------------------------------

    def close(self) -> None:
        """Close the sink, then its outbox (the outbox even when closing the sink fails)."""
        try:
            self.sink.close()
        finally:
            self.outbox.close()

    def __enter__(self) -> OpenedSink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def build_sink(
    name: str,
    plugin: PluginType,
    config: Any,
    state_dir: Path,
    *,
    open: bool = True,
    max_queue: int = 1_000_000,
    max_queue_bytes: int = 2_000_000_000,
    min_free_bytes: int = 200_000_000,
    synchronous: str = "FULL",
    batch_size: int | None = None,
    retry_initial: timedelta = timedelta(seconds=1),
    retry_max: timedelta = timedelta(minutes=5),
    on_deadletter: OnDeadLetter | None = None,
    clock: Clock = time.time,
) -> OpenedSink:
    """Build sink ``name`` of type ``plugin`` with its plugin ``config``, its outbox and
    private folder under ``state_dir``; ``open=True`` also opens it (connects).

    On any failure what was built is closed again before the error propagates.
    """
    outbox = Outbox(
        outbox_path(state_dir, name),
        max_queue=max_queue,
        synchronous=synchronous,
        max_queue_bytes=max_queue_bytes,
        min_free_bytes=min_free_bytes,
    )
    try:
        sink_dir = state_dir / "sinks" / name
        private_dir(sink_dir)
        logger = logging.getLogger(f"wattbridge.sink.{name}")
        context = SinkContext(name, sink_dir, logger, OutboxState(outbox))
        sink = SinkAdapter(plugin.factory(config, context))
    except BaseException:
        outbox.close()
        raise
    worker = SinkWorker(
        name,
        sink,
        outbox,
        batch_size=batch_size,
        retry_initial=retry_initial,
        retry_max=retry_max,
        on_deadletter=on_deadletter,
        logger=logger,
        clock=clock,
    )
    opened = OpenedSink(name, config, sink, outbox, worker)
    if open:
        try:
            sink.open()
        except BaseException:
            opened.close()
            raise
    return opened


def open_sink(
    config: Config, name: str, *, open: bool = True, on_deadletter: OnDeadLetter | None = None
) -> OpenedSink:
    """Build sink ``name`` of ``config`` exactly as ``wattbridge run`` does.

    Raises :class:`CommandFailed` (not found) when the config has no such sink, and what
    the sink raises when it cannot open.
    """
    spec = config.sinks.get(name)
    if spec is None:
        raise CommandFailed(
            f"no sink named {name!r} in {config.path} (sinks: {', '.join(config.sinks) or 'none'})",
            exitcodes.NOT_FOUND,
        )
    return build_from_spec(config, spec, open=open, on_deadletter=on_deadletter)


def build_from_spec(
    config: Config, spec: SinkSpec, *, open: bool, on_deadletter: OnDeadLetter | None
) -> OpenedSink:
    """:func:`build_sink` with the sink's common keys and the config's settings."""
    return build_sink(
        spec.name,
        spec.type,
        spec.config,
        config.state_dir,
        open=open,
        max_queue=spec.common.max_queue,
        max_queue_bytes=spec.common.max_queue_bytes,
        min_free_bytes=spec.common.min_free_bytes,
        synchronous="FULL" if config.settings.fsync else "NORMAL",
        batch_size=spec.common.batch_size,
        retry_initial=spec.common.retry_initial,
        retry_max=spec.common.retry_max,
        on_deadletter=on_deadletter,
    )
