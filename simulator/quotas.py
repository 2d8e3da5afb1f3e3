"""Request-rate quotas as token buckets on the simulated clock (AWS's per-second quotas)."""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator.clock import SimClock


@dataclass
class TokenBucket:
    """``rate`` tokens per second refilled continuously, holding at most ``burst``."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def take(self, now: float, count: float = 1.0) -> bool:
        """Take ``count`` tokens at time ``now``; False (and nothing taken) when too few."""
        if now > self.updated:
            self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
        if self.tokens + 1e-4 >= count:  # epoch floats carry ~1e-7 s of error
            self.tokens -= count
            return True
        return False


class RateLimiter:
    """Named token buckets (one per quota and account) read against one clock.

    ``enabled=False`` turns every check into a pass, for pure functional use.
    """

    def __init__(self, clock: SimClock, enabled: bool = True) -> None:
        self.clock = clock
        self.enabled = enabled
        self.limits: dict[str, tuple[float, float]] = {}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}

    def set_limit(self, quota: str, rate: float, burst: float | None = None) -> None:
        """Define or change a quota: ``rate`` per second, bursting to ``burst`` (default rate)."""
        if rate <= 0:
            raise ValueError(f"quota {quota!r}: rate must be positive, got {rate}")
        self.limits[quota] = (float(rate), float(burst if burst is not None else rate))
        for key in [k for k in self._buckets if k[0] == quota]:
            del self._buckets[key]

    def allow(self, quota: str, scope: str, count: float = 1.0) -> bool:
        """Consume from ``quota``'s bucket for ``scope`` (an account id); False when exhausted."""
        if not self.enabled or quota not in self.limits:
            return True
        bucket = self._buckets.get((quota, scope))
        if bucket is None:
            rate, burst = self.limits[quota]
            bucket = self._buckets[(quota, scope)] = TokenBucket(
                rate, burst, updated=self.clock.time()
            )
        return bucket.take(self.clock.time(), count)
