"""Benchmark: readings emitted on a resampled route against the same readings on a plain
route, measured in the same run.

    python bench/resample_throughput.py [--readings 300000] [--chunk 5000] [--repeat 3]

Both sides emit the same readings (three streams, one a second each) on the bus into a
sink's outbox, in chunks, each chunk one durable transaction:

- plain: every reading is queued (the baseline).
- resampled: ``[routes.resample] every = "1m", how = "mean", zone = "Europe/Copenhagen"``:
  every reading is folded into its window in the outbox database, one value a minute
  a stream queued. The cost is the fold and the windows' rows; the queue is 60 times
  smaller.

A second pair emits one reading a call (a meter's poll of three values), where the
per-call transaction dominates.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STREAMS = ("meter/import", "meter/export", "meter/power")


def _readings(total: int) -> list[object]:
    from wattbridge import Reading

    return [
        Reading(STREAMS[i % 3], T0 + timedelta(seconds=i // 3), i * 0.5, "kWh", "bench")
        for i in range(total)
    ]


def _run(readings: list[object], chunk: int, resampled: bool, folder: Path) -> tuple[float, int]:
    from wattbridge._bus import Bus
    from wattbridge._config import Route
    from wattbridge._outbox import Outbox
    from wattbridge._resample import Resample

    spec = Resample(timedelta(minutes=1), "mean", "Europe/Copenhagen") if resampled else None
    outbox = Outbox(folder / f"{'resampled' if resampled else 'plain'}-{chunk}.sqlite")
    bus = Bus([Route(("bench",), ("out",), None, spec)], {"out": outbox})
    started = time.perf_counter()
    for index in range(0, len(readings), chunk):
        bus.emit("bench", readings[index : index + chunk])  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    depth = outbox.depth
    outbox.close()
    return elapsed, depth


def main() -> None:
    """Print readings a second of both sides, and their ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=300_000)
    parser.add_argument("--chunk", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    readings = _readings(args.readings)
    polls = readings[: min(len(readings), 3 * 500)]
    print(f"{args.readings} readings in chunks of {args.chunk}; {len(polls)} in polls of 3")
    for label, items, chunk in (("chunks", readings, args.chunk), ("polls", polls, 3)):
        best: dict[bool, tuple[float, int]] = {}
        for _ in range(args.repeat):
            for resampled in (False, True):
                with tempfile.TemporaryDirectory() as folder:
                    elapsed, depth = _run(items, chunk, resampled, Path(folder))
                if resampled not in best or elapsed < best[resampled][0]:
                    best[resampled] = (elapsed, depth)
        plain, sampled = best[False], best[True]
        print(
            f"{label:>6}: plain {len(items) / plain[0]:>10,.0f}/s (queued {plain[1]}), "
            f"resampled {len(items) / sampled[0]:>10,.0f}/s (queued {sampled[1]}); "
            f"resampled/plain time {sampled[0] / plain[0]:.2f}x"
        )


if __name__ == "__main__":
    main()
