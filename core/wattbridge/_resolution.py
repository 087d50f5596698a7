"""Can a route's sink write the timestamps its source gives? Checked when a config loads.

A sink's config may say which timestamps it can write with a ``time_resolution``
attribute (energinet.net's documented format writes whole minutes: ``1m``); a source's
config may say what its timestamps are multiples of (a Modbus meter polled every 10s
on the grid: ``10s``). A polled source stamped with its scheduled instants has its
interval as resolution; a resampled route has its windows'. Where both are known and
the source's is not a whole multiple of the sink's, every reading would be
dead-lettered by the sink, so ``wattbridge check`` refuses the route and says the fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

from wattbridge._durations import format_duration
from wattbridge._grid import check_every

_DAY = timedelta(days=1)


def declared_resolution(config: Any) -> timedelta | None:
    """A plugin config's ``time_resolution`` (None: not declared, any timestamp)."""
    value = getattr(config, "time_resolution", None)
    return value if isinstance(value, timedelta) and value > timedelta(0) else None


def source_resolution(spec: Any) -> tuple[timedelta | None, str]:
    """What a source's timestamps are whole multiples of, and why (None: unknown)."""
    polled = hasattr(spec.type.factory, "poll")
    if polled and spec.common.timestamp == "scheduled":
        interval = spec.common.interval
        return interval, f"polled every {format_duration(interval)} on the grid"
    declared = declared_resolution(spec.config)
    if declared is None:
        return None, ""
    return declared, f"timestamps on a {format_duration(declared)} grid"


def route_problems(
    routes: Sequence[Any], sources: Mapping[str, Any], sinks: Mapping[str, Any]
) -> Iterator[tuple[int, str, str]]:
    """(route index, key, message) for each source and sink of a route whose
    timestamps the sink cannot write."""
    for index, route in enumerate(routes):
        for sink_name in route.sinks:
            sink = sinks.get(sink_name)
            writes = declared_resolution(sink.config) if sink is not None else None
            if writes is None:
                continue
            for source_name in route.sources:
                if route.resample is not None:
                    every = route.resample.every
                    gives = route.resample.time_resolution
                    why = f"resampled to windows of {format_duration(every)}"
                    if route.resample.zone != "UTC":
                        why += f" in {route.resample.zone}"
                    key = "resample"
                else:
                    source = sources.get(source_name)
                    if source is None:
                        continue
                    gives, why = source_resolution(source)
                    key = "to"
                if gives is None or gives % writes == timedelta(0):
                    continue
                yield index, key, _message(source_name, why, sink_name, sink, writes, gives)


def _message(
    source: str, why: str, sink_name: str, sink: Any, writes: timedelta, gives: timedelta
) -> str:
    whole = format_duration(writes)
    every = _window_for(writes, gives)
    fix = (
        f'add [routes.resample] with every = "{every}" (and how = "last", "mean", '
        f'"min", "max" or "sum") to this route'
        if every
        else f"poll at a multiple of {whole}"
    )
    return (
        f"source {source!r} ({why}) gives timestamps that sink {sink_name!r} "
        f"(plugin {sink.type.name!r}) cannot write: it writes whole {whole} only, so every "
        f"reading would be dead-lettered; {fix}"
    )


def _window_for(writes: timedelta, gives: timedelta) -> str | None:
    """The shortest window that the sink can write and that holds a source step."""
    candidate = writes
    while candidate <= _DAY:
        if candidate >= gives:
            try:
                check_every(candidate)
            except ValueError:
                pass
            else:
                return format_duration(candidate)
        candidate += writes
    return None
