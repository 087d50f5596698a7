"""How ``wattbridge run`` answers signals: SIGINT or SIGTERM ask for a clean stop (a
second one stops waiting for it), SIGHUP, where asked for, for a reload."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

log = logging.getLogger("wattbridge._signals")


@contextlib.contextmanager
def stop_signals(stop: threading.Event, reload: threading.Event | None = None) -> Iterator[None]:
    """While inside: SIGINT/SIGTERM set ``stop`` (a second one raises KeyboardInterrupt),
    SIGHUP sets ``reload`` when given. The previous handlers are put back after."""
    seen = 0

    def on_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal seen
        seen += 1
        if seen > 1:
            raise KeyboardInterrupt  # a second signal: stop waiting for a clean stop
        log.info("%s received: stopping", signal.Signals(signum).name)
        stop.set()

    def on_hup(_signum: int, _frame: FrameType | None) -> None:
        assert reload is not None
        reload.set()

    previous = {s: signal.signal(s, on_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    if reload is not None:
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
