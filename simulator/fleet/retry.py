"""Fargate under throttling: its KMS sequence retried on the simulated clock, tasks counted.

``RetryingAgent`` is the Fargate agent (``simulator.fargate.agent``) with the assumed retry of
:class:`~simulator.fleet.assumptions.FargateKmsRetry`: a throttled sequence is run again after
a jittered back-off while the task stays PROVISIONING. ``FleetLifecycle`` is ECS's task
lifecycle that lets provisioning be retried and keeps the fleet's counts (pending, running,
failed to start and why) as tasks move, so a timeline never scans every task.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from simulator import errors
from simulator.ecs.lifecycle import Lifecycle
from simulator.fargate.agent import FargateAgent, StorageFailure
from simulator.fleet.assumptions import PROVISIONING_JITTER, FargateKmsRetry

if TYPE_CHECKING:
    from simulator.ecs.tasks import Task
    from simulator.world import Simulation

THROTTLED = "ThrottlingException"
_KMS_FAILURE = re.compile(r"kms:(\w+) failed with (\w+)")


class RetryProvisioning(Exception):
    """Raised by the agent to say: keep the task PROVISIONING, try again in ``delay`` s."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


class RetryingAgent(FargateAgent):
    """The Fargate agent, retrying its KMS sequence when KMS throttles it (an assumption)."""

    def __init__(self, sim: Simulation, policy: FargateKmsRetry, rng: random.Random) -> None:
        super().__init__(sim)
        self.policy = policy
        self.rng = rng
        #: Sequence attempts made so far, by task ARN (while the task is provisioning).
        self.attempts: dict[str, int] = {}
        #: Retries scheduled in all.
        self.retries = 0
        self._last_code: str | None = None

    def _remember(self, failure: StorageFailure) -> None:
        # The agent raises its failure while handling KMS's ClientError ("raise ... from
        # None" hides it from tracebacks but keeps it as __context__).
        cause = failure.__context__
        self._last_code = cause.code if isinstance(cause, errors.ClientError) else None

    def _dry_runs(self, task: Task) -> None:
        """The agent's dry runs; remembers the KMS error code a failure came from."""
        try:
            super()._dry_runs(task)
        except StorageFailure as failure:
            self._remember(failure)
            raise

    def _customer_key(self, task: Task, volume_id: str) -> tuple[bytearray, tuple[str, str]]:
        """The agent's real calls; remembers the KMS error code a failure came from."""
        try:
            return super()._customer_key(task, volume_id)
        except StorageFailure as failure:
            self._remember(failure)
            raise

    def preflight(self, task: Task) -> str | None:
        """The dry runs, or RetryProvisioning when KMS throttled them and attempts remain."""
        self._last_code = None
        return self._retry_or(task, super().preflight(task), done=False)

    def provision(self, task: Task) -> str | None:
        """Provision, or raise RetryProvisioning when KMS throttled and attempts remain.

        A retried provisioning makes the dry runs again first (the agent's own rule for a
        task whose dry runs are not on record): the whole sequence is retried.
        """
        self._last_code = None
        return self._retry_or(task, super().provision(task), done=True)

    def _retry_or(self, task: Task, reason: str | None, done: bool) -> str | None:
        arn = task.arn
        if reason is None:
            if done:
                self.attempts.pop(arn, None)
            return None
        attempt = self.attempts.get(arn, 1)
        if self._last_code == THROTTLED:
            if attempt < self.policy.attempts:
                self.attempts[arn] = attempt + 1
                self.retries += 1
                raise RetryProvisioning(self.policy.delay(attempt, self.rng))
            reason += (f" (fargate-sim: Fargate gave up after {attempt} attempt"
                       f"{'s' if attempt > 1 else ''}; assumption FargateKmsRetry)")
        self.attempts.pop(arn, None)
        return reason


def failure_kind(reason: str | None) -> str:
    """A short class of a stoppedReason: ``kms:CreateGrant ThrottlingException`` or its head."""
    if not reason:
        return "unknown"
    m = _KMS_FAILURE.search(reason)
    if m:
        return f"kms:{m.group(1)} {m.group(2)}"
    return reason.split(":", 1)[0][:80]


class FleetLifecycle(Lifecycle):
    """ECS's task lifecycle with retried provisioning and running counts for the fleet."""

    def __init__(self, base: Lifecycle, on_running: Callable[[Task], None] | None = None,
                 jitter: float = PROVISIONING_JITTER, rng: random.Random | None = None) -> None:
        super().__init__(base.sim, base.timers, base.on_change, base.provisioner, base.timings)
        self.on_running = on_running
        self.jitter = jitter
        self.rng = rng or random.Random(0)
        self.pending = 0
        self.running = 0
        self.launched = 0
        self.failed = 0
        self.failures: Counter[str] = Counter()

    def launch(self, task: Task) -> None:
        """Count the task as pending, then start its life."""
        self.launched += 1
        self.pending += 1
        spread = self.jitter * (2 * self.rng.random() - 1) if self.jitter else 0.0
        provisioning = self.timings.provisioning * (1 + spread)
        task.last_status = "PROVISIONING"  # as Lifecycle.launch, with the jittered duration
        lead = min(self.provisioner.dry_run_lead, provisioning)
        self._after(task, provisioning - lead, lambda t: self._preflight(t, lead))

    def _preflight(self, task: Task, lead: float) -> None:
        try:
            super()._preflight(task, lead)
        except RetryProvisioning as retry:
            self._after(task, retry.delay, lambda t: self._preflight(t, lead))

    def _provisioned(self, task: Task) -> None:
        try:
            super()._provisioned(task)
        except RetryProvisioning as retry:
            self._after(task, retry.delay, self._provisioned)

    def _running(self, task: Task) -> None:
        self.pending -= 1
        self.running += 1
        super()._running(task)
        if self.on_running is not None:
            self.on_running(task)

    def _stopped(self, task: Task) -> None:
        if task.started_at is not None:
            self.running -= 1
        else:
            self.pending -= 1
        if task.stop_code == "TaskFailedToStart":
            self.failed += 1
            self.failures[failure_kind(task.stopped_reason)] += 1
        super()._stopped(task)
