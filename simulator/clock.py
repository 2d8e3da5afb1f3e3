"""Simulated time: a clock that only moves when told to, with callbacks scheduled on it.

Everything time-dependent in the simulator (audit timestamps, key deletion windows, task
state transitions, rate-limit buckets) reads this clock, so runs are reproducible.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(order=True, slots=True)
class ScheduledCall:
    """A callback due at ``when``; ``cancel()`` stops it from running.

    The clock's queue holds ``(when, order, call)`` tuples, compared in C (fleets schedule
    millions of calls); ``order`` breaks ties in scheduling order.
    """

    when: float
    order: int
    callback: Callable[[], object] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


#: The last instant an aware datetime can hold, in epoch seconds (9999-12-31, end of day).
LAST_INSTANT = datetime.max.replace(tzinfo=UTC).timestamp()


class SimClock:
    """Seconds since the epoch, advanced explicitly; runs due callbacks in time order."""

    #: ``now()`` of the last instant asked for (epoch seconds, datetime): many calls share one
    #: simulated instant, and a datetime is immutable, so they share one (NaN: none yet).
    _now_at: tuple[float, datetime] = (float("nan"), DEFAULT_START)

    def __init__(self, start: datetime | None = None) -> None:
        start = start or DEFAULT_START
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start.timestamp()
        self._queue: list[tuple[float, int, ScheduledCall]] = []
        self._order = itertools.count()

    def time(self) -> float:
        """The current simulated time in epoch seconds."""
        return self._now

    def now(self) -> datetime:
        """The current simulated time as an aware UTC datetime."""
        at, dt = self._now_at
        if at != self._now:
            dt = datetime.fromtimestamp(self._now, tz=UTC)
            self._now_at = (self._now, dt)
        return dt

    def call_at(self, when: float | datetime, callback: Callable[[], object]) -> ScheduledCall:
        """Run ``callback`` when the clock reaches ``when`` (immediately due if in the past)."""
        if isinstance(when, datetime):
            when = when.timestamp()
        when = float(when)
        if when < self._now:
            when = self._now
        order = next(self._order)
        call = ScheduledCall(when, order, callback)
        heapq.heappush(self._queue, (when, order, call))
        return call

    def call_later(self, delay: float, callback: Callable[[], object]) -> ScheduledCall:
        """Run ``callback`` ``delay`` seconds from now."""
        if delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay}")
        when = float(self._now + delay)  # call_at's steps, for the common case
        order = next(self._order)
        call = ScheduledCall(when, order, callback)
        heapq.heappush(self._queue, (when, order, call))
        return call

    def advance(self, seconds: float | timedelta = 0.0) -> datetime:
        """Move time forward, running every callback that falls due, in order; return now."""
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if seconds < 0:
            raise ValueError(f"the clock cannot go backwards ({seconds} s)")
        target = self._now + seconds
        if not target < LAST_INSTANT:  # also NaN: refused before anything moves
            raise ValueError(f"the clock cannot go past 9999-12-31 (advancing {seconds} s "
                             "from now)")
        queue = self._queue
        while queue and queue[0][0] <= target:
            when, _, call = heapq.heappop(queue)
            if call.cancelled:
                continue
            if when > self._now:
                self._now = when
            call.callback()
        self._now = target
        return self.now()

    def run_until_idle(self, limit: float = 86400.0 * 365) -> datetime:
        """Advance until no callback is pending (at most ``limit`` seconds ahead)."""
        end = self._now + limit
        while self._queue:
            when, _, head = self._queue[0]
            if head.cancelled:
                heapq.heappop(self._queue)
                continue
            if when > end:
                break
            self.advance(when - self._now)
        return self.now()

    def next_due(self) -> float | None:
        """When the earliest pending callback is due (epoch seconds), or None."""
        while self._queue and self._queue[0][2].cancelled:
            heapq.heappop(self._queue)
        return self._queue[0][0] if self._queue else None

    @property
    def pending(self) -> int:
        """How many scheduled callbacks have not run yet."""
        return sum(1 for _, _, c in self._queue if not c.cancelled)

    def __repr__(self) -> str:
        return f"SimClock({self.now().isoformat()})"
