"""APScheduler, set up the one way wattbridge uses it: interval jobs that never overlap
themselves, each in a pool big enough that one slow job cannot hold up the others.
Polls run on the wall clock's grid (``on_grid``), flushes whenever they are due."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from apscheduler.util import undefined

from wattbridge._readings import EPOCH

# APScheduler logs every run at INFO; keep its warnings (a missed run), not the chatter.
logging.getLogger("apscheduler").setLevel(logging.WARNING)


class _SkippedRunIsNormal(logging.Filter):
    """A flush or poll still running when its next run is due skips that run, as
    designed (jobs never overlap themselves). APScheduler warns of it as "maximum number
    of running instances reached", which reads like a fault and, with a short
    flush_interval against a slow platform, fills a log: shown at debug instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and "maximum number of running instances" in str(
            record.msg
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger("apscheduler").isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("apscheduler.scheduler").addFilter(_SkippedRunIsNormal())


class Scheduler:
    """Interval jobs on a background thread pool of ``workers`` threads."""

    def __init__(self, workers: int) -> None:
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=max(workers, 1))},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
            timezone=UTC,
        )

    def every(
        self, job_id: str, interval: timedelta, func: Callable[[], object], *, now: bool = True
    ) -> None:
        """Run ``func`` every ``interval`` (first at once if ``now``, else one interval
        from now); a run still going when the next is due makes that next one skip, not
        pile up."""
        self._scheduler.add_job(
            func,
            "interval",
            seconds=max(interval.total_seconds(), 0.01),
            id=job_id,
            name=job_id,
            # Not None when not now: APScheduler adds a job with None as *paused*, and
            # it would never run (the stats were never saved while running).
            next_run_time=datetime.now(UTC) if now else undefined,
        )

    def on_grid(self, job_id: str, interval: timedelta, func: Callable[[], object]) -> None:
        """Run ``func`` at every whole multiple of ``interval`` since the epoch (UTC),
        first at the next one: 15m at :00, :15, :30, :45, as Telegraf's round_interval.
        A run still going when the next is due makes that next one skip."""
        self._scheduler.add_job(
            func,
            IntervalTrigger(
                seconds=max(interval.total_seconds(), 0.01), start_date=EPOCH, timezone=UTC
            ),
            id=job_id,
            name=job_id,
        )

    def run_soon(self, job_id: str) -> None:
        """Bring a job's next run forward to now."""
        try:
            self._scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
        except JobLookupError:
            pass

    def start(self) -> None:
        """Start running jobs."""
        self._scheduler.start()

    def shutdown(self) -> None:
        """Stop scheduling and wait for running jobs to return."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
