"""The one retry-delay formula."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wattbridge import Backoff


def test_delays_double_up_to_the_maximum_without_jitter():
    backoff = Backoff(1.0, 300.0, jitter=False)
    assert [backoff.delay(n) for n in range(11)] == [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300]


@given(failures=st.integers(min_value=1, max_value=10**6))
def test_equal_jitter_stays_in_the_upper_half_even_after_a_long_outage(failures):
    # A sink down for weeks counts thousands of failures: 2**failures must not overflow.
    backoff = Backoff(1.0, 300.0)
    nominal = backoff.nominal(failures)
    assert nominal == (300.0 if failures > 9 else 2.0 ** (failures - 1))
    assert nominal / 2 <= backoff.delay(failures) <= nominal


def test_a_zero_initial_delay_means_no_wait_and_a_negative_one_is_refused():
    assert Backoff(0.0, 300.0).delay(5) == 0
    with pytest.raises(ValueError, match="initial must not be negative"):
        Backoff(-1.0, 300.0)
