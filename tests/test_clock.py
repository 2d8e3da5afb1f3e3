"""The simulated clock's limits."""

import pytest

from simulator.clock import SimClock


def test_advancing_past_year_9999_is_refused_and_moves_nothing():
    clock = SimClock()
    before = clock.time()
    for seconds in (3e11, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="9999"):
            clock.advance(seconds)
    assert clock.time() == before
    clock.now()
