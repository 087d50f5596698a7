"""Issue 14, item 5: every request of an import ends by its deadline, and stop cuts one
short, the upload to the presigned URL included. Against the sandbox's faults: trickle
(the answer comes a byte at a time, so no read ever times out) and hang."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wattbridge import Reading
from wattbridge.testing import wait_until

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def readings(count: int) -> list[Reading]:
    return [Reading("my/topic", T0 + timedelta(seconds=i), float(i)) for i in range(count)]


@pytest.mark.parametrize("where", ["/upload_url", "/validate", "/import/\\d+$"])
def test_a_trickled_answer_is_cut_at_the_deadline_and_the_import_resumes(
    edk_sink: Callable[..., Any], sandbox: Any, where: str
) -> None:
    sink = edk_sink(timeout="1s")
    sandbox.faults.trickle(seconds_per_byte=0.5, count=1, path=where)
    started = time.monotonic()
    assert sink.deliver(readings(3), timeout=60) == []
    took = time.monotonic() - started
    # A whole answer at 2 bytes a second takes minutes; the deadline cut it at 1 s.
    assert took < 20, f"delivering took {took:.1f}s"
    assert len(sandbox.stored()) == 3
    assert len([i for i in sandbox.imports() if i["uploaded"]]) == 1  # resumed, not redone


def test_interrupt_cuts_a_hung_upload_to_the_presigned_url(
    edk_sink: Callable[..., Any], sandbox: Any
) -> None:
    sink = edk_sink(timeout="10m")
    sandbox.faults.hang(seconds=3600, count=1, path="/s3/")
    sink.queue(readings(3))
    flushing = threading.Thread(target=sink.flush)
    flushing.start()
    wait_until(lambda: sandbox.arrived("PUT", "/s3/") == 1, timeout=15, message="the upload")
    started = time.monotonic()
    sink.opened.sink.interrupt()
    flushing.join(10)
    assert not flushing.is_alive()
    assert time.monotonic() - started < 2
    assert "stopping: the request was cut short" in (sink.opened.status().last_error or "")
    assert sink.opened.outbox.depth == 3  # nothing lost: sent again after the restart
