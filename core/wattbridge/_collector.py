"""The garbage collector's settings for a wattbridge process (issue 17).

Bulk readings pass as many small containers (a CSV row is a list, a batch's columns are
lists): with Python's default threshold of 700 the cyclic collector ran every few
hundred rows, promoted the rows a chunk holds into the older generations and walked
the whole heap again and again, 10-15% of the CPU time of a watch-folder import into
jsonl (bench/bulk_speed.py, 300,000 rows: 9.2-9.9 CPU s with the defaults, 8.1-8.8
with these). Cycles are still collected, only in larger steps: a young generation of
20,000 containers is a few MB at most.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION = 20_000
"""Containers allocated (net) before the youngest generation is collected."""


def tune_collector() -> None:
    """Freeze what start-up made (modules, plugins: never garbage, never walked again)
    and collect the young generation every :data:`YOUNG_GENERATION` containers."""
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION, middle, old)
