"""A Fargate task's life on the simulated clock.

PROVISIONING -> PENDING -> ACTIVATING -> RUNNING -> DEACTIVATING -> STOPPING ->
DEPROVISIONING -> STOPPED. RunTask answers with PROVISIONING; each later state arrives as
the clock advances (``sim.clock.advance(...)`` or ``sim.fargate.settle()``).

The task provisioner (``simulator.ecs.provisioner``: the Fargate agent) provisions the
task's ephemeral storage at the end of PROVISIONING (the KMS calls happen then) and destroys
it at the end of DEPROVISIONING (the grant is retired then). A provisioning failure stops the
task with ``stopCode: TaskFailedToStart``; a provisioner that raises ``RetryProvisioning``
instead keeps the task PROVISIONING and is asked again after the delay it names.

Assumptions (AWS publishes no durations): the seconds spent in each state are the fields of
``TaskTimings``; change them with ``sim.ecs.timings = TaskTimings(...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simulator.clock import ScheduledCall

if TYPE_CHECKING:
    from simulator.ecs.provisioner import TaskProvisioner
    from simulator.ecs.tasks import Task
    from simulator.service import SimulationSurface

STATES = (
    "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING",
    "DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED",
)

#: How long a STOPPED task stays visible to DescribeTasks/ListTasks (ECS: at least an hour).
STOPPED_TASK_RETENTION_SECONDS = 3600.0

#: The exit code a container reports after a stop (assumption: its process ends on SIGTERM).
STOP_EXIT_CODE = 143


class RetryProvisioning(Exception):
    """Raised by the task provisioner's ``preflight`` or ``provision`` to keep the task
    PROVISIONING and be called again ``delay`` simulated seconds later (a retry)."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay)
        self.delay = delay


@dataclass(frozen=True)
class TaskTimings:
    """Seconds a task spends in each transitional state (assumptions, not AWS figures)."""

    provisioning: float = 5.0
    #: PENDING before the image pull starts.
    pending: float = 1.0
    #: Image pull (pullStartedAt .. pullStoppedAt), still PENDING.
    pull: float = 6.0
    activating: float = 1.0
    deactivating: float = 1.0
    #: Containers receive SIGTERM and exit (executionStoppedAt at the end).
    stopping: float = 2.0
    deprovisioning: float = 5.0

    def start_seconds(self) -> float:
        """Time from RunTask to RUNNING."""
        return self.provisioning + self.pending + self.pull + self.activating

    def stop_seconds(self) -> float:
        """Time from StopTask to STOPPED."""
        return self.deactivating + self.stopping + self.deprovisioning


class _Tracked:
    """A tracked callback: forgets its call in ``Timers``, then runs ``fn(*args)`` (an object,
    not a closure over its own call, so no reference cycle is left for the garbage collector)."""

    __slots__ = ("args", "fn", "order", "pending")

    def __init__(self, pending: dict[int, ScheduledCall], fn: Callable[..., object],
                 args: tuple[Any, ...]) -> None:
        self.pending = pending
        self.fn = fn
        self.args = args
        self.order = -1

    def __call__(self) -> None:
        self.pending.pop(self.order, None)
        self.fn(*self.args)


class Timers:
    """The simulated-clock callbacks ECS has pending, so ``settle`` knows when all is done."""

    def __init__(self, sim: SimulationSurface) -> None:
        self.sim = sim
        self._pending: dict[int, ScheduledCall] = {}

    def later(self, delay: float, fn: Callable[..., object], *args: Any) -> ScheduledCall:
        """Schedule ``fn(*args)`` after ``delay`` seconds and track it until it runs or is
        cancelled."""
        run = _Tracked(self._pending, fn, args)
        call = self.sim.clock.call_later(delay, run)
        run.order = call.order
        self._pending[call.order] = call
        return call

    def cancel(self, call: ScheduledCall | None) -> None:
        """Cancel a tracked callback (no-op for None or one already run)."""
        if call is None:
            return
        call.cancel()
        self._pending.pop(call.order, None)

    def __len__(self) -> int:
        return len(self._pending)

    def latest(self) -> float | None:
        """When the last tracked callback is due, or None when nothing is pending."""
        if not self._pending:
            return None
        return max(c.when for c in self._pending.values())

    def settle(self, max_seconds: float) -> None:
        """Advance the clock until no tracked callback is pending (or ``max_seconds`` pass)."""
        clock = self.sim.clock
        deadline = clock.time() + max_seconds
        while True:
            latest = self.latest()
            if latest is None:
                return
            if latest > deadline:
                clock.advance(max(0.0, deadline - clock.time()))
                return
            clock.advance(max(0.0, latest - clock.time()))


class Lifecycle:
    """Drives tasks through their states and tells ``on_change`` about RUNNING and STOPPED."""

    def __init__(
        self, sim: SimulationSurface, timers: Timers, on_change: Callable[[Task], None],
        provisioner: TaskProvisioner, timings: TaskTimings | None = None,
    ) -> None:
        self.sim = sim
        #: Makes and destroys each task's storage (the Fargate agent, wired by the simulation).
        self.provisioner = provisioner
        self.timers = timers
        self.on_change = on_change
        self.timings = timings or TaskTimings()
        #: Hooks for experiments that watch or vary many tasks (the fleet): called with each
        #: task launched, and giving its PROVISIONING seconds (default: ``timings``').
        self.on_launch: Callable[[Task], None] | None = None
        self.provisioning_seconds: Callable[[Task], float] | None = None

    # -- helpers ---------------------------------------------------------------------------
    def _set(self, task: Task, status: str) -> None:
        task.last_status = status
        task.version += 1

    def _after(self, task: Task, delay: float, fn: Callable[[Task], None]) -> None:
        task.timer = self.timers.later(delay, fn, task)

    # -- start -----------------------------------------------------------------------------
    def launch(self, task: Task) -> None:
        """Begin a task's life: PROVISIONING now, the agent's dry runs ``dry_run_lead`` seconds
        before its end (as AWS's CloudTrail example times them), storage at its end."""
        task.last_status = "PROVISIONING"
        provisioning = (self.timings.provisioning if self.provisioning_seconds is None
                        else self.provisioning_seconds(task))
        lead = min(self.provisioner.dry_run_lead, provisioning)
        self._after(task, provisioning - lead, lambda t: self._preflight(t, lead))
        if self.on_launch is not None:
            self.on_launch(task)

    def _preflight(self, task: Task, lead: float) -> None:
        try:
            failure = self.provisioner.preflight(task)
        except RetryProvisioning as retry:
            self._after(task, retry.delay, lambda t: self._preflight(t, lead))
            return
        if failure is not None:
            self._failed_to_start(task, failure)
            return
        self._after(task, lead, self._provisioned)

    def _failed_to_start(self, task: Task, failure: str) -> None:
        """Stop a task whose storage could not be provisioned (TaskFailedToStart)."""
        now = self.sim.clock.now()
        task.desired_status = "STOPPED"
        task.stop_code = "TaskFailedToStart"
        task.stopped_reason = failure
        task.stopping_at = now
        for c in task.containers:
            c.last_status = "STOPPED"
            c.reason = "TaskFailedToStart"
        self._set(task, "DEPROVISIONING")
        self._after(task, self.timings.deprovisioning, self._stopped)

    def _provisioned(self, task: Task) -> None:
        try:
            failure = self.provisioner.provision(task)
        except RetryProvisioning as retry:
            self._after(task, retry.delay, self._provisioned)
            return
        now = self.sim.clock.now()
        if failure is not None:
            self._failed_to_start(task, failure)
            return
        task.connectivity_at = now
        self._set(task, "PENDING")
        self._after(task, self.timings.pending, self._pull_started)

    def _pull_started(self, task: Task) -> None:
        task.pull_started_at = self.sim.clock.now()
        task.version += 1
        self._after(task, self.timings.pull, self._pull_stopped)

    def _pull_stopped(self, task: Task) -> None:
        task.pull_stopped_at = self.sim.clock.now()
        self._set(task, "ACTIVATING")
        self._after(task, self.timings.activating, self._running)

    def _running(self, task: Task) -> None:
        task.timer = None
        task.started_at = self.sim.clock.now()
        for c in task.containers:
            c.last_status = "RUNNING"
        self._set(task, "RUNNING")
        self.on_change(task)

    # -- stop ------------------------------------------------------------------------------
    def stop(self, task: Task, code: str, reason: str | None) -> None:
        """Ask a task to stop (StopTask, the service scheduler); no-op once it is stopping."""
        if task.desired_status == "STOPPED":
            return
        now = self.sim.clock.now()
        task.desired_status = "STOPPED"
        task.stop_code = code
        if reason:
            task.stopped_reason = reason
        task.stopping_at = now
        task.version += 1
        self.timers.cancel(task.timer)
        task.timer = None
        if task.last_status == "PROVISIONING":
            # Storage is not provisioned yet: nothing to tear down but the network interface.
            self.provisioner.discard(task)
            self._set(task, "DEPROVISIONING")
            self._after(task, self.timings.deprovisioning, self._stopped)
            return
        self._after(task, 0.0, self._deactivating)

    def _deactivating(self, task: Task) -> None:
        self._set(task, "DEACTIVATING")
        self._after(task, self.timings.deactivating, self._stopping)

    def _stopping(self, task: Task) -> None:
        self._set(task, "STOPPING")
        self._after(task, self.timings.stopping, self._containers_stopped)

    def _containers_stopped(self, task: Task) -> None:
        task.execution_stopped_at = self.sim.clock.now()
        for c in task.containers:
            if c.last_status == "RUNNING":
                c.exit_code = STOP_EXIT_CODE
            c.last_status = "STOPPED"
        self._set(task, "DEPROVISIONING")
        self._after(task, self.timings.deprovisioning, self._deprovisioned)

    def _deprovisioned(self, task: Task) -> None:
        self.provisioner.release(task)
        self._stopped(task)

    def _stopped(self, task: Task) -> None:
        task.timer = None
        task.stopped_at = self.sim.clock.now()
        if task.execution_stopped_at is None and task.started_at is not None:
            task.execution_stopped_at = task.stopped_at
        self._set(task, "STOPPED")
        self.sim.clock.call_later(STOPPED_TASK_RETENTION_SECONDS, task.forget)
        self.on_change(task)
