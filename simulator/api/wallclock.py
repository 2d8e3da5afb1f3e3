"""The endpoint's time: the simulated clock follows wall time from the server's start.

``speed`` simulated seconds pass per wall second (``speed=0`` is the manual clock, moved only
by the admin API). Before each request, and from a background ticker between requests, the
simulated clock is advanced to the wall-derived instant, so tasks start, waiters succeed,
grants appear and retire, and rate-limit buckets refill as on AWS. Advancing by hand (or
settling tasks) moves the wall-derived time with it, so time never runs backwards.
"""

from __future__ import annotations

import time
from typing import Any

from simulator.clock import LAST_INSTANT

#: How far (in wall seconds) the simulated clock may lag behind wall time before a request
#: moves it: requests within one step share one simulated instant, as calls in one
#: CloudTrail second share an eventTime, and what the services prepare per instant (request
#: contexts) is reused instead of rebuilt for every call.
STEP_SECONDS = 0.01


class WallClock:
    """Drives one simulation's clock from ``time.monotonic()``."""

    def __init__(self, clock: Any, speed: float = 1.0) -> None:
        if speed < 0:
            raise ValueError(f"speed must be >= 0, got {speed}")
        self.speed = speed
        self.attach(clock)

    def attach(self, clock: Any) -> None:
        """Follow ``clock`` (a new simulation after a reset or a restore) from now on."""
        self.clock = clock
        self._wall0 = time.monotonic()
        self._sim0 = clock.time()

    def target(self) -> float:
        """The simulated time wall time says it is now; a fast clock stops a second before
        the last instant a date can hold (9999-12-31) instead of failing every request."""
        return min(self._sim0 + (time.monotonic() - self._wall0) * self.speed,
                   LAST_INSTANT - 1.0)

    def sync(self) -> bool:
        """Advance the clock to the wall-derived time; True if scheduled events fired."""
        clock = self.clock
        due = clock.next_due()
        ahead = self.target() - clock.time()
        if ahead > 0 and ahead >= STEP_SECONDS * self.speed:
            clock.advance(ahead)
        return due is not None and due <= clock.time()

    def moved(self) -> None:
        """The clock was moved by hand: wall-derived time continues from where it is now."""
        self._sim0 = max(self.clock.time(), self.target())
        self._wall0 = time.monotonic()
