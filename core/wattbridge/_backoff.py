"""The one retry-delay formula: exponential growth, capped, with "equal jitter".

Every wait after a failure (a sink's retries, a source's restarts, a meter that does
not answer) is a :class:`Backoff`, so they all grow and spread the same way.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs


def _not_negative(_instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, not {value}")


@attrs.frozen
class Backoff:
    """Delays of ``initial``, twice that, four times ... at most ``maximum`` seconds.

    With ``jitter`` (the default) each delay is drawn from its upper half ("equal
    jitter"), so many clients that failed together do not retry together, and a delay
    is never less than half the nominal one.
    """

    initial: float = attrs.field(validator=_not_negative)
    maximum: float = attrs.field(validator=_not_negative)
    jitter: bool = True

    def nominal(self, failures: int) -> float:
        """The delay after ``failures`` failures in a row, before jitter (0 for none)."""
        if failures <= 0:
            return 0.0
        # min() before the power would overflow for a long outage's failure count.
        exponent = min(failures - 1, 64)
        return float(min(self.maximum, self.initial * 2**exponent))

    def delay(
        self, failures: int, uniform: Callable[[float, float], float] = random.uniform
    ) -> float:
        """The delay to wait after ``failures`` failures in a row."""
        nominal = self.nominal(failures)
        if not self.jitter or nominal == 0:
            return nominal
        return nominal / 2 + uniform(0, nominal / 2)
