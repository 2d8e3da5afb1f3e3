"""Deployments and the rolling-update scheduler of ECS services.

Each deployment (a service revision) fixes, when it is created, the task definition, the
platform version, the network configuration and the Fargate ephemeral storage key: the
cluster's key at that moment. A later UpdateCluster reaches only deployments created after it
(S12); replacement tasks of an existing deployment keep its key, and a circuit-breaker
rollback restores the last completed deployment with its key.

The scheduler follows ECS's rolling update: a new PRIMARY deployment starts tasks up to
``maximumPercent`` of the desired count, the old (ACTIVE) deployments' tasks are stopped
while ``minimumHealthyPercent`` stays running, and the PRIMARY's ``rolloutState`` goes from
IN_PROGRESS to COMPLETED when it runs the desired count alone. Tasks that fail to start are
retried after ``SERVICE_RETRY_SECONDS``; with the deployment circuit breaker on, a deployment
fails after ``circuit_breaker_threshold(desired)`` (3..200) failed tasks (and rolls back if
asked); once one of its tasks has run, its failed count stays at zero.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.ecs import platforms
from simulator.ecs.taskdefs import TaskDefinition

if TYPE_CHECKING:
    from simulator.ecs.clusters import Cluster
    from simulator.ecs.ecs_services import EcsServiceRecord
    from simulator.ecs.tasks import Task

#: Assumption: seconds the scheduler waits before retrying after a task failed to start.
SERVICE_RETRY_SECONDS = 30.0
#: Assumption: seconds before retrying a launch the Fargate launch-rate bucket refused.
THROTTLE_RETRY_SECONDS = 1.0


#: The circuit breaker's bounds (botocore ECS model, ServiceDeploymentCircuitBreaker.threshold:
#: "a minimum threshold of 3 and a maximum threshold of 200", "0.5 * desired task count").
CIRCUIT_BREAKER_MIN = 3
CIRCUIT_BREAKER_MAX = 200


def circuit_breaker_threshold(desired: int) -> int:
    """Failed tasks that trip the circuit breaker: 0.5 x the desired count, within 3..200
    (rounding half a count up is an assumption)."""
    return min(CIRCUIT_BREAKER_MAX, max(CIRCUIT_BREAKER_MIN, math.ceil(desired * 0.5)))


def in_progress(deployment_id: str) -> str:
    """A deployment's rolloutStateReason while it rolls out, in AWS's words."""
    return f"ECS deployment {deployment_id} in progress."


@dataclass(eq=False)
class Deployment:
    """One deployment (service revision) and its fixed configuration."""

    id: str
    taskdef: TaskDefinition
    desired_count: int
    created_at: datetime
    platform_version: str
    network: dict[str, Any]
    launch_type: str | None
    capacity_strategy: list[dict[str, Any]]
    kms_key_id: str | None
    status: str = "PRIMARY"
    updated_at: datetime | None = None
    rollout_state: str = "IN_PROGRESS"
    #: AWS's words, naming the deployment: "ECS deployment ecs-svc/… in progress." and
    #: "… completed." (the AWS CLI's create-service and describe-services examples).
    rollout_reason: str = ""
    failed_tasks: int = 0
    #: Whether a task of this deployment has reached RUNNING: from then on the failed task
    #: count is zero and no longer evaluated (Deployment.failedTasks, ECS API reference).
    has_run: bool = False
    #: Managed EBS volumes each task of the deployment gets (``volumeConfigurations``).
    volumes: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.rollout_reason:
            self.rollout_reason = in_progress(self.id)
    #: The deployment's service revision and service deployment (set when it is added).
    revision_arn: str | None = None
    deployment_arn: str | None = None
    #: Revisions this deployment replaces (ARNs), and when it finished.
    source_revisions: list[str] = field(default_factory=list)
    finished_at: datetime | None = None

    @property
    def uses_cmk(self) -> bool:
        """Whether this deployment's tasks can use a customer managed key (Linux, 1.4.0+)."""
        return platforms.supports_cmk(self.platform_version, self.taskdef.os_family)

    def describe(self, tasks: list[Task]) -> dict[str, Any]:
        """The ``Deployment`` shape, counting ``tasks`` (this deployment's tasks)."""
        live = [t for t in tasks if t.desired_status == "RUNNING"]
        running = sum(1 for t in live if t.last_status == "RUNNING")
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "taskDefinition": self.taskdef.arn,
            "desiredCount": self.desired_count,
            "pendingCount": len(live) - running,
            "runningCount": running,
            "failedTasks": self.failed_tasks,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at or self.created_at,
            "platformVersion": self.platform_version,
            "platformFamily": platforms.platform_family(self.taskdef.os_family),
            "networkConfiguration": copy.deepcopy(self.network),
            "rolloutState": self.rollout_state,
            "rolloutStateReason": self.rollout_reason,
        }
        if self.launch_type:
            out["launchType"] = self.launch_type
        if self.capacity_strategy:
            out["capacityProviderStrategy"] = copy.deepcopy(self.capacity_strategy)
        if self.kms_key_id and self.uses_cmk:
            out["fargateEphemeralStorage"] = {"kmsKeyId": self.kms_key_id}
        if self.volumes:
            out["volumeConfigurations"] = [v.describe() for v in self.volumes]
        return out


class DeploymentScheduler:
    """The deployment side of ``EcsService``: create, promote, reconcile, retry, roll back."""

    # provided by EcsService
    sim: Any
    lifecycle: Any
    timers: Any

    if TYPE_CHECKING:
        def _event(self, svc: EcsServiceRecord, message: str) -> None:
            """Add an event to the service's list (``ServiceOps._event``)."""

    def _new_deployment(
        self,
        cluster: Cluster,
        td: TaskDefinition,
        desired: int,
        platform_version: str | None,
        network: dict[str, Any],
        launch_type: str | None,
        strategy: list[dict[str, Any]],
        kms_key_id: str | None = None,
        keep_key: bool = False,
        volume_configs: list[dict[str, Any]] | None = None,
        ctx: Any = None,
    ) -> Deployment:
        """A PRIMARY deployment taking the cluster's current key (checked, not yet added)."""
        provider = strategy[0]["capacityProvider"] if strategy else None
        plan = self.plan_launch(  # type: ignore[attr-defined]
            cluster, td, platform_version=platform_version, network=network,
            capacity_provider=provider,
        )
        volumes = self.check_volumes(plan, volume_configs, ctx)  # type: ignore[attr-defined]
        now = self.sim.clock.now()
        return Deployment(
            volumes=volumes,
            id=f"ecs-svc/{self.sim.rng.randrange(10**18, 10**19)}",
            taskdef=td, desired_count=desired, created_at=now,
            platform_version=plan.platform_version, network=copy.deepcopy(network),
            launch_type=launch_type, capacity_strategy=copy.deepcopy(strategy),
            kms_key_id=kms_key_id if keep_key else cluster.fargate_key,
        )

    def _promote(self, svc: EcsServiceRecord, new: Deployment) -> None:
        now = self.sim.clock.now()
        sources = []
        for d in svc.deployments:
            if d.status == "PRIMARY":
                d.status = "ACTIVE"
                d.updated_at = now
            if d.revision_arn:
                sources.append(d.revision_arn)
        new.source_revisions = sources
        svc.deployments.insert(0, new)
        self.register_revision(svc, new)  # type: ignore[attr-defined]

    # -- the scheduler ---------------------------------------------------------------------
    def on_task_change(self, task: Task) -> None:
        """Lifecycle callback: a service task reached RUNNING or STOPPED."""
        svc = task.service
        if svc is None:
            return
        dep = task.deployment
        if dep is not None and task.last_status == "RUNNING" and not dep.has_run:
            # "Once a service deployment has one or more successfully running tasks, the
            # failed task count resets to zero and stops being evaluated."
            dep.has_run = True
            dep.failed_tasks = 0
        if task.stopped and task.stop_code == "TaskFailedToStart" and dep is not None:
            dep.updated_at = self.sim.clock.now()
            self._event(svc, f"task {task.id} failed to start: {task.stopped_reason}")
            if not dep.has_run:
                dep.failed_tasks += 1
                if self._breaker_tripped(svc, dep):
                    return
            self._retry_later(svc, SERVICE_RETRY_SECONDS)
        self.reconcile(svc)

    def _breaker_tripped(self, svc: EcsServiceRecord, dep: Deployment) -> bool:
        breaker = svc.deployment_configuration.get("deploymentCircuitBreaker") or {}
        if not breaker.get("enable") or dep.status != "PRIMARY":
            return False
        if dep.rollout_state != "IN_PROGRESS":
            return dep.rollout_state == "FAILED"
        if dep.failed_tasks < circuit_breaker_threshold(dep.desired_count):
            return False
        dep.rollout_state = "FAILED"
        dep.rollout_reason = (
            f"ECS deployment circuit breaker: task failed to start {dep.failed_tasks} times."
        )
        self._event(svc, f"(deployment {dep.id}) deployment failed: tasks failed to start.")
        last = svc.last_completed
        if breaker.get("rollback") and last is not None and last is not dep:
            back = self._new_deployment(
                svc.cluster, last.taskdef, svc.desired_count, svc.platform_version,
                last.network, last.launch_type, last.capacity_strategy,
                kms_key_id=last.kms_key_id, keep_key=True,
                volume_configs=[v.describe() for v in last.volumes],
            )
            self._promote(svc, back)
            self._event(svc, f"(deployment {dep.id}) rolling back to deployment "
                             f"{last.id} as {back.id}.")
            self.reconcile(svc)
        return True

    def _retry_later(self, svc: EcsServiceRecord, delay: float) -> None:
        if svc.retry is not None:
            return

        def again() -> None:
            """Clear the retry and reconcile again."""
            svc.retry = None
            self.reconcile(svc)

        svc.retry = self.timers.later(delay, again)

    def reconcile(self, svc: EcsServiceRecord) -> None:
        """Start and stop tasks toward the desired state; complete or retire deployments."""
        if svc.status == "INACTIVE":
            return
        if svc.status == "DRAINING":
            for t in svc.live():
                self.lifecycle.stop(t, "ServiceSchedulerInitiated",
                                    "Service is being deleted (DeleteService)")
            if all(t.stopped for t in svc.tasks.values()):
                svc.status = "INACTIVE"
                for d in svc.deployments:
                    d.status = "INACTIVE"
                self._event(svc, "has been deleted.")
            return
        if svc.controller != "ECS":
            self.reconcile_task_sets(svc)  # type: ignore[attr-defined]
            return
        primary = svc.primary
        desired = primary.desired_count
        cfg = svc.deployment_configuration
        max_total = max(desired, desired * cfg.get("maximumPercent", 200) // 100)
        min_healthy = math.ceil(desired * cfg.get("minimumHealthyPercent", 100) / 100)
        # Scale the primary down (pending tasks first, then the newest).
        live_primary = svc.live(primary)
        if len(live_primary) > desired:
            victims = sorted(live_primary,
                             key=lambda t: (t.last_status == "RUNNING", -t.created_at.timestamp()))
            for t in victims[: len(live_primary) - desired]:
                self.lifecycle.stop(t, "ServiceSchedulerInitiated",
                                    f"Scaling activity initiated by (deployment {primary.id})")
        # Scale the primary up within maximumPercent.
        want = desired - len(svc.live(primary))
        if want > 0 and svc.retry is None and primary.rollout_state != "FAILED":
            room = max_total - len(svc.live())
            n = min(want, room)
            if n > 0:
                self._start_tasks(svc, primary, n)
        # Stop old deployments' tasks while minimumHealthyPercent keeps running.
        running = sum(1 for t in svc.live() if t.last_status == "RUNNING")
        for dep in svc.deployments[1:]:
            for t in sorted(svc.live(dep), key=lambda t: t.last_status == "RUNNING"):
                if t.last_status != "RUNNING":
                    self.lifecycle.stop(t, "ServiceSchedulerInitiated",
                                        f"Deployment {primary.id} replaces this task")
                elif running - 1 >= min_healthy:
                    running -= 1
                    self.lifecycle.stop(t, "ServiceSchedulerInitiated",
                                        f"Deployment {primary.id} replaces this task")
            dep.desired_count = len(svc.live(dep))
            if not svc.not_stopped(dep):
                dep.status = "INACTIVE"
                dep.updated_at = self.sim.clock.now()
                dep.finished_at = dep.finished_at or dep.updated_at
        svc.deployments = [d for d in svc.deployments if d.status != "INACTIVE"]
        # Rollout state of the primary.
        live_primary = svc.live(primary)
        steady = (
            len(svc.deployments) == 1
            and len(live_primary) == desired
            and all(t.last_status == "RUNNING" for t in live_primary)
        )
        if steady and primary.rollout_state == "IN_PROGRESS":
            primary.rollout_state = "COMPLETED"
            primary.rollout_reason = f"ECS deployment {primary.id} completed."
            primary.updated_at = self.sim.clock.now()
            primary.finished_at = primary.updated_at
            svc.last_completed = primary
            self._event(svc, f"(deployment {primary.id}) deployment completed.")
            self._event(svc, "has reached a steady state.")

    def _start_tasks(self, svc: EcsServiceRecord, dep: Deployment, count: int) -> None:
        provider = dep.capacity_strategy[0]["capacityProvider"] if dep.capacity_strategy else None
        try:
            plan = self.plan_launch(  # type: ignore[attr-defined]
                svc.cluster, dep.taskdef, platform_version=dep.platform_version,
                network=dep.network, capacity_provider=provider,
            )
        except errors.ClientError as exc:  # pragma: no cover - checked at deployment creation
            self._event(svc, f"was unable to place a task: {exc.message}")
            self._retry_later(svc, SERVICE_RETRY_SECONDS)
            return
        # Launch what the Fargate launch-rate bucket allows now (halving the batch until it
        # fits), the rest after THROTTLE_RETRY_SECONDS: a bucket of 100 never holds 500.
        asked = count
        while count and not self.take_launch_tokens(  # type: ignore[attr-defined]
                svc.cluster.account, count):
            count //= 2
        if count < asked:
            self._retry_later(svc, THROTTLE_RETRY_SECONDS)
        if not count:
            return
        plan.kms_key_id = dep.kms_key_id
        plan.ebs_volumes = list(dep.volumes)
        plan.deployment = dep
        plan.service = svc
        plan.started_by = dep.id
        plan.group = f"service:{svc.name}"
        if svc.propagate_tags == "SERVICE":
            plan.tags = copy.deepcopy(svc.tags)
        elif svc.propagate_tags == "TASK_DEFINITION":
            plan.tags = copy.deepcopy(dep.taskdef.tags)
        tasks = self.launch(plan, count)  # type: ignore[attr-defined]
        for t in tasks:
            svc.tasks[t.id] = t
        ids = " ".join(f"(task {t.id})" for t in tasks)
        self._event(svc, f"has started {len(tasks)} tasks: {ids}.")
