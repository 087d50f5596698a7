"""The scheduler's jobs never overlap themselves; a run skipped for that is normal and
logged at debug, not as APScheduler's warning."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

import pytest

from wattbridge._scheduler import Scheduler


def test_a_run_skipped_because_the_last_one_still_runs_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[int] = []
    release = threading.Event()

    def slow() -> None:
        runs.append(1)
        release.wait(10)

    scheduler = Scheduler(2)
    scheduler.every("slow", timedelta(milliseconds=20), slow)
    with caplog.at_level(logging.DEBUG, logger="apscheduler"):
        scheduler.start()
        try:
            deadline = time.monotonic() + 30
            while not any("maximum number" in r.getMessage() for r in caplog.records):
                assert time.monotonic() < deadline, "no run was skipped"
                time.sleep(0.05)
        finally:
            release.set()
            scheduler.shutdown()
    skipped = [r for r in caplog.records if "maximum number" in r.getMessage()]
    assert {r.levelname for r in skipped} == {"DEBUG"}
    assert len(runs) == 1
