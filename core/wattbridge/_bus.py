"""The bus: readings from sources are routed (stream names mapped), transformed by
plugins, and put durably into the outbox of every sink their routes name.

``emit`` returns only when the readings are durable in all those outboxes; that is
the moment a source may acknowledge its input. A reading that no route takes is
counted and reported once, never dropped silently. A route with ``resample`` hands its
readings to the sink's :class:`~wattbridge._resample.Resampler` instead, which folds
them into windows kept in the same outbox, as durably.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from wattbridge._columns import ReadingColumns
from wattbridge._config import Route
from wattbridge._errors import Stopping
from wattbridge._outbox import Outbox
from wattbridge._readings import Reading, with_names
from wattbridge._resample import Resample, Resampler
from wattbridge._stats import Stats

log = logging.getLogger("wattbridge._bus")

Credential = Callable[[Reading], str]
Target = tuple[str, "Resample | None"]
"""Where routed readings go: a sink, and the route's resampling (None: as they are)."""


class Bus:
    """Routes readings from named sources to the outboxes of named sinks."""

    def __init__(
        self,
        routes: Sequence[Route],
        outboxes: Mapping[str, Outbox],
        *,
        credentials: Mapping[str, Credential] | None = None,
        transform_hook: Any = None,
        on_queued: Callable[[str], None] | None = None,
        stats: Stats | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.outboxes = outboxes
        self.credentials = dict(credentials or {})
        self.on_queued = on_queued
        self.stats = stats or Stats()
        self.stopping = stopping or threading.Event()
        self._transforms = (
            [impl.function for impl in reversed(transform_hook.get_hookimpls())]
            if transform_hook is not None
            else []
        )
        # source -> [(sinks, mapping or None, resampling or None)]
        self._routes: dict[
            str, list[tuple[tuple[str, ...], Mapping[str, str] | None, Resample | None]]
        ] = defaultdict(list)
        for route in routes:
            for source in route.sources:
                self._routes[source].append((route.sinks, route.streams, route.resample))
        self._resamplers: dict[str, Resampler] = {}
        for route in routes:
            for sink in route.sinks:
                # A sink whose outbox is damaged has none (its sources wait for it).
                if route.resample is not None and sink not in self._resamplers and sink in outboxes:
                    self._resamplers[sink] = Resampler(outboxes[sink], self.credentials.get(sink))
        self.last_emit = time.monotonic()
        """When readings were last queued (monotonic clock), for ``run --until-idle``."""
        self._warned: set[tuple[str, str]] = set()
        self._warned_lock = threading.Lock()

    def targets(self, source: str) -> set[str]:
        """The sinks that readings of ``source`` may reach."""
        return {sink for sinks, _, _ in self._routes.get(source, []) for sink in sinks}

    def has_room(self, source: str) -> bool:
        """True while every outbox that ``source`` feeds is below its bound (a sink whose
        outbox could not be opened has none)."""
        return all(self._has_room(sink) for sink in self.targets(source))

    def _has_room(self, sink: str) -> bool:
        outbox = self.outboxes.get(sink)
        return outbox is not None and outbox.has_room()

    def emit(self, source: str, readings: Iterable[Reading], *, overflow: bool = False) -> None:
        """Route and queue ``readings`` from ``source``; return when they are durable.

        Blocks while a target outbox is full; raises :class:`Stopping` if wattbridge
        stops meanwhile (nothing of this call was queued then). With ``overflow`` (a
        source that cannot pause without loss) a full outbox takes them while it has
        overflow room (see :meth:`Outbox.has_overflow_room`).
        """
        per_target = self._route(source, readings)
        if not per_target:
            return
        for sink in {sink for sink, _ in per_target}:
            count = sum(len(items) for (name, _), items in per_target.items() if name == sink)
            while not self._has_room(sink):
                if overflow and self._overflowed(source, sink, count):
                    break
                if self.stopping.is_set():
                    raise Stopping(f"stopping while the outbox of {sink!r} was full")
                self.stats.add(f"source.{source}.waited_for_room")
                outbox = self.outboxes.get(sink)
                if outbox is None:
                    self.stopping.wait(0.5)  # damaged: it waits for a recover and restart
                else:
                    outbox.wait_for_room(0.5)
        for (sink, resample), items in per_target.items():
            if resample is not None:
                resampler = self._resamplers[sink]
                closed, late = resampler.add(_route_key(sink, resample), resample, items)
                self._resampled(sink, closed, late)
            else:
                credential = self.credentials.get(sink)
                creds = [credential(r) for r in items] if credential is not None else None
                self.outboxes[sink].put(items, creds)
            self.last_emit = time.monotonic()
            if self.on_queued is not None:
                self.on_queued(sink)

    def close_windows(self, now: datetime | None = None) -> int:
        """Close resampling windows whose end plus grace has passed (a source gone
        quiet); returns how many were closed and queued."""
        total = 0
        for sink, resampler in self._resamplers.items():
            closed = resampler.close_due(now or datetime.now(UTC))
            if closed:
                self._resampled(sink, closed, 0)
                if self.on_queued is not None:
                    self.on_queued(sink)
            total += closed
        return total

    def open_windows(self, sink: str) -> int:
        """Resampling windows of ``sink`` that hold readings now."""
        resampler = self._resamplers.get(sink)
        return resampler.open_windows if resampler is not None else 0

    def _resampled(self, sink: str, closed: int, late: int) -> None:
        if closed:
            self.stats.add(f"sink.{sink}.windows_closed", closed)
        if late:
            self.stats.add(f"sink.{sink}.resample_refused", late)
            log.warning(
                "sink %s: %d reading(s) could not be resampled (late for a closed window, "
                "or text): dead-lettered with the reason",
                sink,
                late,
            )

    def route(self, source: str, readings: Iterable[Reading]) -> dict[str, list[Reading]]:
        """The readings each sink would get from ``source`` (mapped, transformed, not
        resampled), without queueing them: for ``wattbridge test``."""
        per_sink: dict[str, list[Reading]] = defaultdict(list)
        for (sink, _resample), items in self._route(source, readings).items():
            per_sink[sink].extend(items)
        return dict(per_sink)

    def _overflowed(self, source: str, sink: str, count: int) -> bool:
        """Take ``count`` readings past a full outbox if it has overflow room; counted
        in status and logged (the first time, then every 100 times)."""
        outbox = self.outboxes.get(sink)
        if outbox is None or not outbox.has_overflow_room():
            return False
        over = self.stats.add(f"sink.{sink}.over_max_queue", count)
        episodes = self.stats.add(f"sink.{sink}.over_max_queue_batches")
        if episodes == 1 or episodes % 100 == 0:
            log.warning(
                "outbox of sink %r is over max_queue (%d): taking readings from source %r, "
                "which cannot pause without loss, up to max_queue_bytes (%d); %d so far",
                sink,
                outbox.max_queue,
                source,
                outbox.max_queue_bytes,
                over,
            )
        return True

    def _route(self, source: str, readings: Iterable[Reading]) -> dict[Target, Sequence[Reading]]:
        routes = self._routes.get(source, [])
        if routes and not self._transforms and all(m is None for _, m, _ in routes):
            # The common case, every stream to every sink as named: no per-reading routing.
            items: Sequence[Reading]
            if isinstance(readings, ReadingColumns):
                items = readings.named(source)  # stays columns, down to the sink
            else:
                items = [r if r.source else with_names(r, r.stream, source) for r in readings]
            if not items:
                return {}
            return {(sink, resample): items for sinks, _, resample in routes for sink in sinks}
        per_sink: dict[Target, list[Reading]] = defaultdict(list)
        for emitted in readings:  # a mapping or a transform: reading by reading
            reading = emitted if emitted.source else with_names(emitted, emitted.stream, source)
            taken = False
            for sinks, mapping, resample in routes:
                if mapping is None:
                    routed = reading
                else:
                    name = mapping.get(reading.stream)
                    if name is None:
                        continue
                    routed = (
                        reading
                        if name == reading.stream
                        else with_names(reading, name, reading.source)
                    )
                taken = True
                for sink in sinks:
                    final = self._transform(routed, source, sink) if self._transforms else routed
                    if final is not None:
                        per_sink[(sink, resample)].append(final)
            if not taken:
                self._unrouted(source, reading.stream)
        return {target: items for target, items in per_sink.items()}

    def _transform(self, reading: Reading, source: str, sink: str) -> Reading | None:
        for transform in self._transforms:
            result = transform(reading=reading, source=source, sink=sink)
            if result is False:
                self.stats.add(f"sink.{sink}.filtered")
                return None
            if result is not None:
                if not isinstance(result, Reading):
                    raise TypeError(
                        f"wattbridge_transform_reading returned {type(result).__name__}; "
                        "return a Reading, None or False"
                    )
                reading = result
        return reading

    def _unrouted(self, source: str, stream: str) -> None:
        self.stats.add(f"source.{source}.unrouted")
        key = (source, stream)
        with self._warned_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(
            "source %r: stream %r matches no route; its readings are counted as unrouted",
            source,
            stream,
        )


def _route_key(sink: str, resample: Resample) -> str:
    """The name a resampled route's windows are kept under in the sink's outbox: its
    settings, so changing them starts new windows (the old ones still close)."""
    return f"{sink}|{resample.every.total_seconds():g}s|{resample.how}|{resample.zone}"
