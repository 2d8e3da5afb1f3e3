"""Fargate under throttling: its KMS sequence retried on the simulated clock, tasks counted.

``FargateRetry`` is the agent's retry policy (``FargateAgent.kms_retry``) under the assumption
:class:`~simulator.fleet.assumptions.FargateKmsRetry`: a throttled sequence is run again after
a jittered back-off while the task stays PROVISIONING. ``FleetCounts`` watches ECS's task
lifecycle through its hooks (``on_launch``, ``on_change``, ``provisioning_seconds``) and keeps
the fleet's counts (pending, running, failed to start and why) as tasks move, so a timeline
never scans every task.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator.fleet.assumptions import PROVISIONING_JITTER, FargateKmsRetry

if TYPE_CHECKING:
    from simulator.ecs.lifecycle import Lifecycle
    from simulator.ecs.tasks import Task
    from simulator.fargate.agent import StorageFailure

THROTTLED = "ThrottlingException"
_KMS_FAILURE = re.compile(r"kms:(\w+) failed with (\w+)")


class FargateRetry:
    """The Fargate agent's KMS retry policy under the ``FargateKmsRetry`` assumption: only a
    throttled call is retried, ``policy.attempts`` attempts in all, jittered back-off."""

    def __init__(self, policy: FargateKmsRetry, rng: random.Random) -> None:
        self.policy = policy
        self.rng = rng
        #: Retries scheduled in all.
        self.retries = 0

    def retry_after(self, task: Task, failure: StorageFailure, attempt: int) -> float | None:
        """The back-off before the next attempt of a throttled sequence, or None."""
        if failure.code != THROTTLED or attempt >= self.policy.attempts:
            return None
        self.retries += 1
        return self.policy.delay(attempt, self.rng)

    def stopped_reason(self, task: Task, failure: StorageFailure, attempts: int) -> str:
        """KMS's failure, and for a throttled one that Fargate gave up (the assumption)."""
        if failure.code != THROTTLED:
            return failure.reason
        return (f"{failure.reason} (fargate-sim: Fargate gave up after {attempts} attempt"
                f"{'s' if attempts > 1 else ''}; assumption FargateKmsRetry)")


def failure_kind(reason: str | None) -> str:
    """A short class of a stoppedReason: ``kms:CreateGrant ThrottlingException`` or its head."""
    if not reason:
        return "unknown"
    m = _KMS_FAILURE.search(reason)
    if m:
        return f"kms:{m.group(1)} {m.group(2)}"
    return reason.split(":", 1)[0][:80]


class FleetCounts:
    """The fleet's task counts, kept by ECS's lifecycle hooks as tasks move; each task's
    PROVISIONING time drawn within ``jitter`` of ECS's (the ``PROVISIONING_JITTER``
    assumption)."""

    def __init__(self, lifecycle: Lifecycle, on_running: Callable[[Task], None] | None = None,
                 jitter: float = PROVISIONING_JITTER, rng: random.Random | None = None) -> None:
        self.lifecycle = lifecycle
        self.on_running = on_running
        self.jitter = jitter
        self.rng = rng or random.Random(0)
        self.pending = 0
        self.running = 0
        self.launched = 0
        self.failed = 0
        self.failures: Counter[str] = Counter()
        self._on_change = lifecycle.on_change
        lifecycle.on_launch = self._launched
        lifecycle.on_change = self._changed
        lifecycle.provisioning_seconds = self._provisioning

    def _provisioning(self, task: Task) -> float:
        spread = self.jitter * (2 * self.rng.random() - 1) if self.jitter else 0.0
        return self.lifecycle.timings.provisioning * (1 + spread)

    def _launched(self, task: Task) -> None:
        self.launched += 1
        self.pending += 1

    def _changed(self, task: Task) -> None:
        """A task reached RUNNING or STOPPED: count it, then tell ECS and the fleet."""
        running = task.last_status == "RUNNING"
        if running:
            self.pending -= 1
            self.running += 1
        else:
            if task.started_at is not None:
                self.running -= 1
            else:
                self.pending -= 1
            if task.stop_code == "TaskFailedToStart":
                self.failed += 1
                self.failures[failure_kind(task.stopped_reason)] += 1
        self._on_change(task)
        if running and self.on_running is not None:
            self.on_running(task)
