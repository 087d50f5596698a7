"""Helpers for the energinet tests: a sandbox with a short or test-clocked window, and
sinks run by the core's own delivery worker on a reopenable outbox."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import attrs
import pytest

from wattbridge._delivery import SinkWorker
from wattbridge._outbox import Outbox, OutboxState
from wattbridge._plugins import Registry
from wattbridge._sinks import SinkContext, credential_of
from wattbridge.testing import plugin_config


class SharedClock:
    """One clock for the core, the sink and the sandbox, moved forward together."""

    def __init__(self, sandbox: Any) -> None:
        self.sandbox = sandbox
        self.now = sandbox.clock.now()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.sandbox.clock.advance(seconds)


@attrs.define
class Running:
    """A sink, its outbox and the core's worker, as the runtime would build them."""

    sink: Any
    outbox: Outbox
    worker: SinkWorker

    def queue(self, readings: list[Any]) -> None:
        self.outbox.put(readings, [credential_of(self.sink, r) for r in readings])

    def close(self) -> None:
        self.sink.close()
        self.outbox.close()


@pytest.fixture
def sandbox(wattbridge_sandbox: Callable[[str], Any]) -> Any:
    """The energinet sandbox with the platform's ten-minute window."""
    return wattbridge_sandbox("energinet")


@pytest.fixture
def make_sink(tmp_path: Path, wattbridge_registry: Registry) -> Iterator[Callable[..., Running]]:
    """``make_sink(clock, outbox="name", **keys)``: an energinet sink on a reopenable outbox."""
    running: list[Running] = []

    def make(clock: Callable[[], float], outbox: str = "outbox", **keys: Any) -> Running:
        config = plugin_config(wattbridge_registry, "sinks", "energinet", tmp_path, **keys)
        box = Outbox(tmp_path / f"{outbox}.sqlite")
        logger = logging.getLogger("test.energinet")
        context = SinkContext("energinet", tmp_path / "state", logger, OutboxState(box))
        sink = wattbridge_registry.sinks["energinet"].factory(config, context)
        sink.clock = clock
        worker = SinkWorker(
            "energinet",
            sink,
            box,
            retry_initial=timedelta(milliseconds=10),
            retry_max=timedelta(milliseconds=50),
            logger=logger,
            clock=clock,
        )
        result = Running(sink, box, worker)
        running.append(result)
        return result

    yield make
    for item in running:
        try:
            item.close()
        except Exception:
            pass  # already closed by a restart test


@pytest.fixture
def clock(sandbox: Any) -> SharedClock:
    """A clock the core, the sink and the sandbox share (see :class:`SharedClock`)."""
    return SharedClock(sandbox)
