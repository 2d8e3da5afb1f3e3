"""``EcsService``: the simulated Amazon ECS control plane for Fargate.

The operations live with the resources they manage (``clusters``, ``taskdefs``, ``tasks``,
``ecs_services``, the scheduler in ``deployments``); this class holds the state and wires the
task lifecycle to the task provisioner the simulation hands it (the Fargate agent) and to
the service scheduler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.arn import Arn
from simulator.ecs import tasks as tasks_mod
from simulator.ecs.clusters import Cluster, ClusterOps
from simulator.ecs.deployments import DeploymentScheduler
from simulator.ecs.ecs_services import ServiceOps
from simulator.ecs.lifecycle import Lifecycle, TaskTimings, Timers
from simulator.ecs.options import EcsOptions
from simulator.ecs.revisions import RevisionOps
from simulator.ecs.tagging import TaggingOps
from simulator.ecs.taskdefs import TaskDefinition, TaskDefinitionOps
from simulator.ecs.tasks import TaskOps
from simulator.ecs.tasksets import TaskSetOps
from simulator.service import Service

if TYPE_CHECKING:
    from simulator.ecs.provisioner import TaskProvisioner
    from simulator.ecs.tasks import Task
    from simulator.service import CallContext, SimulationSurface


class EcsService(
    ClusterOps, TaskDefinitionOps, TaskOps, ServiceOps, RevisionOps, TaskSetOps,
    TaggingOps, DeploymentScheduler, Service,
):
    """Amazon ECS as the simulator models it: Fargate launch type, ECS rolling deployments."""

    service_name = "ecs"
    event_source = "ecs.amazonaws.com"
    constraint_error = "InvalidParameterException"
    cloudtrail_lower_names = False

    def __init__(self, sim: SimulationSurface, provisioner: TaskProvisioner) -> None:
        super().__init__(sim)
        self.clusters: dict[tuple[str, str], Cluster] = {}
        self.taskdefs: dict[tuple[str, str], list[TaskDefinition]] = {}
        self.revisions = {}
        self.timers = Timers(sim)
        #: Readings of what AWS leaves open (``simulator.ecs.options``).
        self.options = EcsOptions()
        self.lifecycle = Lifecycle(sim, self.timers, self.on_task_change, provisioner)
        limiter = sim.rate_limiter
        if tasks_mod.RUN_TASK_QUOTA not in limiter.limits:
            limiter.set_limit(tasks_mod.RUN_TASK_QUOTA, tasks_mod.RUN_TASK_RATE)
        if tasks_mod.LAUNCH_QUOTA not in limiter.limits:
            limiter.set_limit(
                tasks_mod.LAUNCH_QUOTA, tasks_mod.LAUNCH_RATE, tasks_mod.LAUNCH_BURST
            )

    def check_request(self, ctx: CallContext, params: dict[str, Any]) -> None:
        """An ECS ARN of another Region anywhere in the request (a cluster, task definition,
        task or service named by ARN) is refused as AWS refuses it:
        ``InvalidParameterException: Invalid Region in ARN`` (aws/aws-cli#3175: run-task
        with us-east-1 ARNs sent to us-east-2)."""
        foreign = _foreign_ecs_arn(params, ctx.region)
        if foreign is not None:
            raise errors.InvalidParameterException(
                "Invalid Region in ARN",
                explanation=f"{foreign} is in {Arn.parse(foreign).region}; this request went to "
                            f"{ctx.region} (use --region, or an ARN of {ctx.region})")

    @property
    def timings(self) -> TaskTimings:
        """Seconds tasks spend in each lifecycle state (assumptions; settable)."""
        return self.lifecycle.timings

    @timings.setter
    def timings(self, value: TaskTimings) -> None:
        """Replace the lifecycle durations (applies to transitions scheduled from now on)."""
        self.lifecycle.timings = value

    def settle(self, max_seconds: float = 3600.0) -> None:
        """Advance the clock until no task is in transition and no retry is pending."""
        self.timers.settle(max_seconds)

    def all_tasks(self) -> list[Task]:
        """Every task ECS still knows (STOPPED ones for an hour), oldest first."""
        return [t for c in self.clusters.values() for t in c.tasks.values()]

    def task_by_arn(self, arn: str) -> Task | None:
        """The task with this ARN, if ECS still knows it."""
        parts = arn.rsplit("/", 2)
        if len(parts) == 3 and ":task/" in arn:
            account = arn.split(":")[4]
            cluster = self.clusters.get((account, parts[1]))
            if cluster is not None:
                return cluster.tasks.get(parts[2])
        for task in self.all_tasks():
            if task.arn == arn or task.id == arn:
                return task
        return None


def _foreign_ecs_arn(value: Any, region: str) -> str | None:
    """The first ``arn:<partition>:ecs:<region>:...`` string in ``value`` (a request, walked
    through its structures and lists) whose Region is not ``region``, or None."""
    if isinstance(value, str):
        if value.startswith("arn:"):
            try:
                arn = Arn.parse(value)
            except ValueError:  # not an ARN: the operation words its own refusal
                return None
            if arn.service == "ecs" and arn.region != region:
                return value
        return None
    if isinstance(value, dict):
        value = value.values()
    elif not isinstance(value, list):
        return None
    for item in value:
        found = _foreign_ecs_arn(item, region)
        if found is not None:
            return found
    return None
