"""Helpers for the energinet tests: a sandbox with a short or test-clocked window, and
sinks run by the core's own delivery worker on a reopenable outbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from wattbridge._opensink import build_sink
from wattbridge._plugins import Registry
from wattbridge.testing import SinkHarness, plugin_config


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


@pytest.fixture
def sandbox(wattbridge_sandbox: Callable[[str], Any]) -> Any:
    """The energinet sandbox with the platform's ten-minute window."""
    return wattbridge_sandbox("energinet")


@pytest.fixture
def make_sink(
    tmp_path: Path, wattbridge_registry: Registry
) -> Iterator[Callable[..., SinkHarness]]:
    """``make_sink(clock, outbox="name", **keys)``: an energinet sink on a reopenable outbox."""
    running: list[SinkHarness] = []

    def make(clock: Callable[[], float], outbox: str = "outbox", **keys: Any) -> SinkHarness:
        config = plugin_config(wattbridge_registry, "sinks", "energinet", tmp_path, **keys)
        opened = build_sink(
            "energinet",
            wattbridge_registry.sinks["energinet"],
            config,
            tmp_path / outbox,
            retry_initial=timedelta(milliseconds=10),
            retry_max=timedelta(milliseconds=50),
            clock=clock,
        )
        opened.sink.plugin.clock = clock
        result = SinkHarness(opened)
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
