"""Task sets of services with the EXTERNAL and CODE_DEPLOY deployment controllers:
CreateTaskSet, DescribeTaskSets, UpdateTaskSet, UpdateServicePrimaryTaskSet, DeleteTaskSet.

A task set runs ``ceil(desiredCount x scale%)`` tasks of one task definition; its
configuration, the Fargate ephemeral storage key included, is fixed when it is created, as a
deployment's is (TaskSet.fargateEphemeralStorage). A CODE_DEPLOY service starts with one
PRIMARY task set made from CreateService's task definition; an EXTERNAL service has none
until CreateTaskSet
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-external.html).
UpdateService cannot change what a task set fixes: "Unable to update task definition on
services with a CODE_DEPLOY deployment controller. Use AWS CodeDeploy to trigger a new
deployment." (AWS's words, hashicorp/terraform-provider-aws issues).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.ecs import platforms
from simulator.ecs.common import authorize_call, copy_tags, ecs_arn, parse_reference

if TYPE_CHECKING:
    from simulator.ecs.deployments import Deployment
    from simulator.ecs.ecs_services import EcsServiceRecord
    from simulator.service import CallContext

TASK_SET_CONTROLLERS = ("EXTERNAL", "CODE_DEPLOY")
#: The ECS model's error for a task set that does not exist.
TaskSetNotFoundException = errors.error_class("TaskSetNotFoundException")
DEFAULT_SCALE = {"value": 100.0, "unit": "PERCENT"}
#: Task sets (deployments) a service may hold at once; CreateTaskSet beyond it is refused
#: in AWS's words, as quoted in https://github.com/aws-samples/ecs-bg-external-controller/issues/6
MAX_TASK_SETS = 5


def update_refused(controller: str, what: str) -> errors.ClientError:
    """UpdateService's refusal to change ``what`` on a task-set service (AWS's words).

    The CODE_DEPLOY text is ECS's own (quoted in
    https://github.com/hendrixroa/terraform-aws-ecs-service-blue-green-deployment/issues/2 and
    https://github.com/fabfuel/ecs-deploy/issues/175); for EXTERNAL the same sentence is used
    without the CodeDeploy advice, which goes to the explanation instead.
    """
    if controller == "CODE_DEPLOY":
        return errors.InvalidParameterException(
            f"Unable to update {what} on services with a CODE_DEPLOY deployment controller. "
            "Use AWS CodeDeploy to trigger a new deployment."
        )
    return errors.InvalidParameterException(
        f"Unable to update {what} on services with a {controller} deployment controller.",
        explanation=f"A service with the {controller} deployment controller changes its "
        f"{what} through task sets: create one (CreateTaskSet) and make it primary "
        "(UpdateServicePrimaryTaskSet).",
    )


@dataclass(eq=False)
class TaskSet:
    """One task set of a service."""

    id: str
    arn: str
    deployment: Deployment
    created_at: datetime
    platform_version: str | None
    external_id: str | None = None
    started_by: str | None = None
    status: str = "ACTIVE"
    scale: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SCALE))
    updated_at: datetime | None = None
    stability_at: datetime | None = None
    stable: bool = False
    tags: list[dict[str, str]] = field(default_factory=list)

    def wanted(self, svc: EcsServiceRecord) -> int:
        """computedDesiredCount: the service's desired count times the scale, rounded up."""
        if self.status == "DRAINING":
            return 0
        return math.ceil(svc.desired_count * float(self.scale["value"]) / 100.0)

    def describe(self, svc: EcsServiceRecord, include_tags: bool = False) -> dict[str, Any]:
        """The ``TaskSet`` shape."""
        dep = self.deployment
        live = svc.live(dep)
        running = sum(1 for t in live if t.last_status == "RUNNING")
        out: dict[str, Any] = {
            "id": self.id,
            "taskSetArn": self.arn,
            "serviceArn": svc.arn,
            "clusterArn": svc.cluster.arn,
            "status": self.status,
            "taskDefinition": dep.taskdef.arn,
            "computedDesiredCount": self.wanted(svc),
            "pendingCount": len(live) - running,
            "runningCount": running,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at or self.created_at,
            "platformVersion": dep.platform_version,
            "platformFamily": platforms.platform_family(dep.taskdef.os_family),
            "networkConfiguration": copy.deepcopy(dep.network),
            "loadBalancers": [],
            "serviceRegistries": [],
            "scale": dict(self.scale),
            "stabilityStatus": "STEADY_STATE" if self.stable else "STABILIZING",
            "stabilityStatusAt": self.stability_at or self.created_at,
        }
        if self.started_by:
            out["startedBy"] = self.started_by
        if self.external_id:
            out["externalId"] = self.external_id
        if dep.launch_type:
            out["launchType"] = dep.launch_type
        if dep.capacity_strategy:
            out["capacityProviderStrategy"] = copy.deepcopy(dep.capacity_strategy)
        if dep.kms_key_id and dep.uses_cmk:
            out["fargateEphemeralStorage"] = {"kmsKeyId": dep.kms_key_id}
        if include_tags:
            out["tags"] = copy.deepcopy(self.tags)
        return out


def _scale(given: dict[str, Any] | None) -> dict[str, Any]:
    scale = dict(DEFAULT_SCALE, **(given or {}))
    value = scale.get("value")
    if not isinstance(value, int | float) or not 0 <= value <= 100:
        raise errors.InvalidParameterException(
            f"scale.value must be a percentage between 0 and 100, got {value}."
        )
    scale["value"] = float(value)
    return scale


class TaskSetOps:
    """The task set operations of ``EcsService`` and the reconciler of task-set services."""

    sim: Any
    lifecycle: Any

    # -- helpers ---------------------------------------------------------------------------
    def new_task_set(
        self, ctx: CallContext, svc: EcsServiceRecord, params: dict[str, Any], *,
        started_by: str | None = None,
    ) -> TaskSet:
        """A checked task set of ``svc`` (not yet added) from CreateTaskSet's parameters."""
        td = self.taskdef_for_update(ctx, params["taskDefinition"])  # type: ignore[attr-defined]
        launch_type, strategy = svc.launch_type, svc.capacity_strategy
        if "launchType" in params or "capacityProviderStrategy" in params:
            launch_type, strategy = self._launch_settings(  # type: ignore[attr-defined]
                svc.cluster, params)
        network = copy.deepcopy(params.get("networkConfiguration") or svc.network)
        dep = self._new_deployment(  # type: ignore[attr-defined]
            svc.cluster, td, svc.desired_count, params.get("platformVersion"), network,
            launch_type, strategy,
        )
        dep.status = "TASK_SET"
        ts_id = f"ecs-svc/{self.sim.rng.randrange(10**18, 10**19)}"
        dep.id = ts_id
        arn = ecs_arn(self.sim.region, svc.cluster.account,
                      f"task-set/{svc.cluster.name}/{svc.name}/{ts_id}", self.sim.partition)
        return TaskSet(
            id=ts_id, arn=arn, deployment=dep, created_at=self.sim.clock.now(),
            platform_version=params.get("platformVersion"),
            external_id=params.get("externalId"), started_by=started_by,
            scale=_scale(params.get("scale")), tags=copy_tags(params.get("tags")),
        )

    def _task_set_service(self, ctx: CallContext, params: dict[str, Any]) -> EcsServiceRecord:
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        arn, found = self._service_ref(ctx, cluster, params["service"])  # type: ignore[attr-defined]
        authorize_call(ctx, found.arn if found else arn, {"ecs:cluster": cluster.arn})
        svc = self._active_service(ctx, cluster, params["service"])  # type: ignore[attr-defined]
        if svc.controller not in TASK_SET_CONTROLLERS:
            # AWS's words, as quoted in
            # https://github.com/hashicorp/terraform-provider-aws/issues/30347
            raise errors.InvalidParameterException(
                "Amazon ECS only supports task set management on services configured to use "
                "external deployment controllers.",
                explanation=f"Service {svc.name} uses the {svc.controller} deployment "
                "controller; task sets belong to EXTERNAL (or CODE_DEPLOY) services.",
            )
        return svc

    @staticmethod
    def _task_set(svc: EcsServiceRecord, ref: str) -> TaskSet:
        _, ts_id = parse_reference(ref, "task-set") if ref.startswith("arn:") else (None, ref)
        for ts in svc.task_sets:
            if ts.id == ref or ts.arn == ref or ts.id.endswith(f"/{ts_id}") or ts.id == ts_id:
                return ts
        # No recorded ECS answer was found: the sentence is moto's (the reference emulator's
        # ecs/exceptions.py), an assumption; the error code is botocore's model's.
        raise TaskSetNotFoundException(
            "The specified task set does not exist.",
            explanation=f"service {svc.name} has no task set {ref}; its task sets are "
            + (", ".join(ts.id for ts in svc.task_sets) or "none"),
        )

    def reconcile_task_sets(self, svc: EcsServiceRecord) -> None:
        """Start and stop each task set's tasks toward its computed desired count."""
        now = self.sim.clock.now()
        for ts in list(svc.task_sets):
            dep = ts.deployment
            want = ts.wanted(svc)
            live = svc.live(dep)
            if len(live) > want:
                victims = sorted(live, key=lambda t: (t.last_status == "RUNNING",
                                                      -t.created_at.timestamp()))
                for t in victims[: len(live) - want]:
                    self.lifecycle.stop(t, "ServiceSchedulerInitiated",
                                        f"Scaling activity initiated by (task set {ts.id})")
            elif len(live) < want and svc.retry is None:
                self._start_tasks(svc, dep, want - len(live))  # type: ignore[attr-defined]
            live = svc.live(dep)
            stable = len(live) == want and all(t.last_status == "RUNNING" for t in live)
            if stable != ts.stable:
                ts.stable, ts.stability_at = stable, now
            if ts.status == "DRAINING" and not svc.not_stopped(dep):
                svc.task_sets.remove(ts)

    # -- operations ------------------------------------------------------------------------
    def CreateTaskSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Add a task set (ACTIVE; the first one of an EXTERNAL service becomes PRIMARY)."""
        svc = self._task_set_service(ctx, params)
        if len(svc.task_sets) >= MAX_TASK_SETS:
            raise errors.InvalidParameterException(
                f"{len(svc.task_sets)} deployments exist on the service. Unable to create new "
                "TaskSet since this exceeds the maximum limit.",
                explanation="Delete a task set (DeleteTaskSet) before creating another.",
            )
        ts = self.new_task_set(ctx, svc, params)
        if not any(t.status == "PRIMARY" for t in svc.task_sets):
            ts.status = "PRIMARY"
        svc.task_sets.append(ts)
        self.reconcile(svc)  # type: ignore[attr-defined]
        return {"taskSet": ts.describe(svc, include_tags=True)}

    def DescribeTaskSets(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The service's task sets (all, or those named)."""
        svc = self._task_set_service(ctx, params)
        include_tags = "TAGS" in (params.get("include") or ())
        refs = params.get("taskSets")
        if not refs:
            return {"taskSets": [ts.describe(svc, include_tags) for ts in svc.task_sets],
                    "failures": []}
        found, failures = [], []
        for ref in refs:
            try:
                found.append(self._task_set(svc, ref).describe(svc, include_tags))
            except TaskSetNotFoundException:
                failures.append({"arn": ref, "reason": "MISSING"})
        return {"taskSets": found, "failures": failures}

    def UpdateTaskSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Change a task set's scale."""
        svc = self._task_set_service(ctx, params)
        ts = self._task_set(svc, params["taskSet"])
        ts.scale = _scale(params["scale"])
        ts.updated_at = self.sim.clock.now()
        self.reconcile(svc)  # type: ignore[attr-defined]
        return {"taskSet": ts.describe(svc)}

    def UpdateServicePrimaryTaskSet(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Make a task set PRIMARY; the previous primary becomes ACTIVE."""
        svc = self._task_set_service(ctx, params)
        ts = self._task_set(svc, params["primaryTaskSet"])
        if ts.status == "DRAINING":
            raise errors.InvalidParameterException(
                f"Task set {ts.id} is DRAINING and cannot become the primary task set."
            )
        now = self.sim.clock.now()
        for other in svc.task_sets:
            if other.status == "PRIMARY" and other is not ts:
                other.status, other.updated_at = "ACTIVE", now
        ts.status, ts.updated_at = "PRIMARY", now
        return {"taskSet": ts.describe(svc)}

    def DeleteTaskSet(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Drain a task set: its tasks stop, then it disappears (a PRIMARY one needs force)."""
        svc = self._task_set_service(ctx, params)
        ts = self._task_set(svc, params["taskSet"])
        if ts.status == "PRIMARY" and not params.get("force"):
            raise errors.InvalidParameterException(
                f"Task set {ts.id} is the service's primary task set. Make another task set "
                "primary first, or pass force to delete it."
            )
        ts.status, ts.updated_at = "DRAINING", self.sim.clock.now()
        out = {"taskSet": ts.describe(svc)}
        self.reconcile(svc)  # type: ignore[attr-defined]
        return out
