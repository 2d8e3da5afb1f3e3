"""The hot path's small rewrites give exactly what they replace."""

from __future__ import annotations

import random
import uuid

from simulator.client import uuid4_text
from simulator.clock import SimClock


def test_uuid4_text_is_uuids_own_formatting():
    rng = random.Random(7)
    for bits in [0, (1 << 128) - 1, *(rng.getrandbits(128) for _ in range(2000))]:
        assert uuid4_text(bits) == str(uuid.UUID(int=bits, version=4))


def test_clock_runs_calls_in_time_then_scheduling_order_and_skips_cancelled():
    clock = SimClock()
    ran: list[str] = []
    t0 = clock.time()
    clock.call_later(2, lambda: ran.append("b"))
    clock.call_later(1, lambda: ran.append("a"))
    clock.call_later(2, lambda: ran.append("c"))  # same instant as b: after it
    clock.call_later(1.5, lambda: ran.append("never")).cancel()
    clock.call_at(t0 - 10, lambda: ran.append("past"))  # due now
    assert clock.pending == 4 and clock.next_due() == t0
    clock.advance(1.5)
    assert clock.next_due() == t0 + 2
    assert ran == ["past", "a"] and clock.time() == t0 + 1.5
    clock.run_until_idle()
    assert ran == ["past", "a", "b", "c"] and clock.time() == t0 + 2 and clock.pending == 0
    assert clock.next_due() is None
