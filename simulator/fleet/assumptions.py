"""What a fleet simulation assumes where AWS publishes no behaviour, and AWS's published prices.

Every constant here is either AWS's published figure (with its page) or an **assumption**,
said so in its docstring; a fleet spec overrides each (``grid.fargate_retry``,
``grid.launcher_retry``, ``grid.quotas``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace
from typing import Any, Self

#: AWS KMS pricing (https://aws.amazon.com/kms/pricing/): $0.03 per 10,000 requests.
PRICE_PER_10K_REQUESTS_USD = 0.03
#: AWS KMS pricing: "a free tier of 20,000 requests/month calculated across all regions".
FREE_REQUESTS_PER_MONTH = 20_000
#: AWS KMS pricing: each customer managed key costs $1/month.
KEY_MONTH_USD = 1.0
#: Hours in a month as AWS's price calculator counts them (730), in seconds.
SECONDS_PER_MONTH = 730 * 3600

#: Assumption: a request KMS throttles (ThrottlingException) is not billed. AWS's pricing page
#: bills "requests"; it does not say whether refused ones count. DryRun requests are billed
#: and count against the quotas (https://docs.aws.amazon.com/kms/latest/developerguide/
#: programming-dryrun.html), so Fargate's two dry runs per task are counted and billed.
BILL_THROTTLED_REQUESTS = False


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with full jitter: ``uniform(0, 1) * min(base * 2**n, cap)``.

    The shape is the AWS SDKs' "standard" retry mode
    (https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html: "b =
    random number within the range of: 0 <= b <= 1", "r = 2", "MAX_BACKOFF = 20 seconds",
    default maximum attempts 3).
    """

    #: Attempts in all (the first call and its retries); 1 means no retry.
    attempts: int = 3
    #: Seconds before the first retry at most (the jitter draws below it).
    base_seconds: float = 1.0
    #: The longest wait between attempts.
    max_seconds: float = 20.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        return rng.random() * min(self.base_seconds * 2 ** (retry - 1), self.max_seconds)

    def override(self, table: dict[str, Any] | None) -> Self:
        """A copy with the fields a spec's table names replaced."""
        return replace(self, **(table or {}))

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The names a spec table may set."""
        return tuple(f.name for f in fields(cls))


@dataclass(frozen=True)
class FargateKmsRetry(Backoff):
    """**Assumption**: how Fargate retries its KMS sequence when KMS throttles it.

    AWS does not document it. The simulator assumes Fargate's provisioning uses an AWS SDK
    with the standard retry mode (3 attempts, jittered exponential back-off from 1 s, at most
    20 s) and, when a KMS call of the sequence is throttled, waits and runs the whole sequence
    again from its dry runs (the task stays PROVISIONING meanwhile; each attempt's requests
    count against the quotas and are billed). After the last attempt the task stops with
    ``TaskFailedToStart`` and the KMS error in its ``stoppedReason``. Only
    ``ThrottlingException`` is retried: a denial or a disabled key fails the task at once, as
    the agent does without a fleet.
    """


@dataclass(frozen=True)
class LauncherRetry(Backoff):
    """**Assumption**: how the fleet's launcher retries RunTask when ECS throttles it.

    A throttled RunTask (``ThrottlingException: Rate exceeded``: the RunTask rate or the
    Fargate launch-rate bucket) is retried by the launcher, an SDK client in standard retry
    mode would give up after 3 attempts; a deployment tool keeps going, so the default here
    is to keep retrying (``attempts = 0`` means without limit) every ``base_seconds`` (1 s,
    the simulator's tick), the way ECS's own scheduler retries a throttled launch.
    """

    attempts: int = 0
    base_seconds: float = 1.0
    max_seconds: float = 1.0

    def delay(self, retry: int, rng: random.Random) -> float:
        """A fixed wait of ``base_seconds`` (no jitter: the launcher ticks once a second)."""
        return min(self.base_seconds, self.max_seconds)


#: **Assumption**: how much a task's PROVISIONING time varies, as a fraction of ECS's
#: ``TaskTimings.provisioning`` (5 s): each task draws uniformly within +/- this share. AWS
#: publishes no provisioning times; with none at all, a burst of 100 launches would reach
#: KMS in the same instant, which no real fleet does. 0 turns the spread off.
PROVISIONING_JITTER = 0.5

DEFAULT_FARGATE_RETRY = FargateKmsRetry()
DEFAULT_LAUNCHER_RETRY = LauncherRetry()


def request_cost_usd(requests: float) -> float:
    """List price of ``requests`` KMS requests (no free tier)."""
    return requests * PRICE_PER_10K_REQUESTS_USD / 10_000


def monthly_request_cost_usd(requests_per_month: float, accounts: int = 1) -> float:
    """A month's KMS request charge: each account's free tier off first."""
    per_account = requests_per_month / max(accounts, 1)
    billable = max(0.0, per_account - FREE_REQUESTS_PER_MONTH)
    return request_cost_usd(billable) * max(accounts, 1)
