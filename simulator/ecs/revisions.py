"""Service revisions and service deployments: DescribeServiceRevisions,
ListServiceDeployments, DescribeServiceDeployments.

Every deployment of a service is one service revision (its task definition, platform,
network, managed EBS volumes and Fargate ephemeral storage key, fixed when it was created)
and one service deployment (the move from the previous revisions to it)
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/service-revision.html).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.ecs import platforms
from simulator.ecs.common import authorize_call, ecs_arn, paginate, parse_reference

if TYPE_CHECKING:
    from simulator.ecs.deployments import Deployment
    from simulator.ecs.ecs_services import EcsServiceRecord
    from simulator.service import CallContext

#: DescribeServiceRevisions and DescribeServiceDeployments take at most this many ARNs.
MAX_DESCRIBE = 20


def revision_shape(svc: EcsServiceRecord, dep: Deployment) -> dict[str, Any]:
    """The ``ServiceRevision`` shape of one deployment."""
    out: dict[str, Any] = {
        "serviceRevisionArn": dep.revision_arn,
        "serviceArn": svc.arn,
        "clusterArn": svc.cluster.arn,
        "taskDefinition": dep.taskdef.arn,
        "platformVersion": dep.platform_version,
        "platformFamily": platforms.platform_family(dep.taskdef.os_family),
        "loadBalancers": [],
        "serviceRegistries": [],
        "networkConfiguration": copy.deepcopy(dep.network),
        "containerImages": [
            {"containerName": c["name"], "image": c["image"]}
            for c in dep.taskdef.body["containerDefinitions"]
        ],
        "guardDutyEnabled": False,
        "createdAt": dep.created_at,
    }
    if dep.launch_type:
        out["launchType"] = dep.launch_type
    if dep.capacity_strategy:
        out["capacityProviderStrategy"] = copy.deepcopy(dep.capacity_strategy)
    if dep.volumes:
        out["volumeConfigurations"] = [v.describe() for v in dep.volumes]
    if dep.kms_key_id and dep.uses_cmk:
        out["fargateEphemeralStorage"] = {"kmsKeyId": dep.kms_key_id}
    return out


def deployment_status(svc: EcsServiceRecord, dep: Deployment) -> str:
    """The ``ServiceDeploymentStatus`` of a deployment (a completed one stays SUCCESSFUL)."""
    if dep.rollout_state == "FAILED":
        rolled_back = bool(svc.deployments) and svc.deployments[0] is not dep
        return "ROLLBACK_SUCCESSFUL" if rolled_back else "STOPPED"
    if dep.rollout_state == "COMPLETED":
        return "SUCCESSFUL"
    if dep.status != "PRIMARY":  # replaced before it completed
        return "STOPPED"
    return "IN_PROGRESS"


class RevisionOps:
    """The service revision and service deployment operations of ``EcsService``."""

    sim: Any
    #: Every revision ECS knows, by ARN: (service, deployment).
    revisions: dict[str, tuple[EcsServiceRecord, Deployment]]

    def register_revision(self, svc: EcsServiceRecord, dep: Deployment) -> None:
        """Give a new deployment its service revision and service deployment ARNs."""
        if dep.revision_arn is not None:
            return
        account, region = svc.cluster.account, self.sim.region
        name = f"{svc.cluster.name}/{svc.name}/{dep.id.rsplit('/', 1)[-1]}"
        dep.revision_arn = ecs_arn(region, account, f"service-revision/{name}",
                                   self.sim.partition)
        dep.deployment_arn = ecs_arn(region, account, f"service-deployment/{name}",
                                     self.sim.partition)
        svc.history.append(dep)
        self.revisions[dep.revision_arn] = (svc, dep)

    def _deployment_shape(self, svc: EcsServiceRecord, dep: Deployment) -> dict[str, Any]:
        live = svc.live(dep)
        running = sum(1 for t in live if t.last_status == "RUNNING")
        out: dict[str, Any] = {
            "serviceDeploymentArn": dep.deployment_arn,
            "serviceArn": svc.arn,
            "clusterArn": svc.cluster.arn,
            "createdAt": dep.created_at,
            "startedAt": dep.created_at,
            "updatedAt": dep.updated_at or dep.created_at,
            "sourceServiceRevisions": [
                {"arn": arn, "requestedTaskCount": 0, "runningTaskCount": 0,
                 "pendingTaskCount": 0}
                for arn in dep.source_revisions
            ],
            "targetServiceRevision": {
                "arn": dep.revision_arn, "requestedTaskCount": dep.desired_count,
                "runningTaskCount": running, "pendingTaskCount": len(live) - running,
            },
            "status": deployment_status(svc, dep),
            "deploymentConfiguration": copy.deepcopy(svc.deployment_configuration),
        }
        if dep.finished_at is not None:
            out["finishedAt"] = dep.finished_at
        if dep.rollout_state == "FAILED":
            out["statusReason"] = dep.rollout_reason
        return out

    def DescribeServiceRevisions(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Describe up to 20 service revisions by ARN."""
        arns = _described_arns(params, "serviceRevisionArns")
        found, failures = [], []
        for arn in arns:
            authorize_call(ctx, arn)
            hit = self.revisions.get(arn)
            if hit is None or hit[0].cluster.account != ctx.account:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(revision_shape(*hit))
        return {"serviceRevisions": found, "failures": failures}

    def ListServiceDeployments(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The service's deployments, newest first, filtered by status and creation time."""
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        _, name = parse_reference(params["service"], "service")
        svc = cluster.services.get(name)
        arn = svc.arn if svc else ecs_arn(ctx, ctx.account, f"service/{cluster.name}/{name}",
                                          ctx.sim.partition)
        authorize_call(ctx, arn, {"ecs:cluster": cluster.arn})
        if svc is None:
            raise errors.ServiceNotFoundException("Service not found.")
        statuses = set(params.get("status") or ())
        window = params.get("createdAt") or {}
        before: datetime | None = window.get("before")
        after: datetime | None = window.get("after")
        rows = []
        for dep in reversed(svc.history):
            brief = self._deployment_shape(svc, dep)
            if statuses and brief["status"] not in statuses:
                continue
            if before is not None and dep.created_at >= before:
                continue
            if after is not None and dep.created_at <= after:
                continue
            keep = ("serviceDeploymentArn", "serviceArn", "clusterArn", "startedAt",
                    "createdAt", "finishedAt", "status", "statusReason")
            row = {k: brief[k] for k in keep if k in brief}
            row["targetServiceRevisionArn"] = dep.revision_arn
            rows.append(row)
        return paginate("ListServiceDeployments", rows, params)

    def DescribeServiceDeployments(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Describe up to 20 service deployments by ARN."""
        arns = _described_arns(params, "serviceDeploymentArns")
        by_arn = {d.deployment_arn: (s, d) for s, d in self.revisions.values()}
        found, failures = [], []
        for arn in arns:
            authorize_call(ctx, arn)
            hit = by_arn.get(arn)
            if hit is None or hit[0].cluster.account != ctx.account:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(self._deployment_shape(*hit))
        return {"serviceDeployments": found, "failures": failures}


def _described_arns(params: dict[str, Any], member: str) -> list[str]:
    """The ARNs a Describe call names in ``member``: between 1 and ``MAX_DESCRIBE``."""
    arns: list[str] = params[member]
    if not 1 <= len(arns) <= MAX_DESCRIBE:
        raise errors.InvalidParameterException(
            f"{member} must list between 1 and {MAX_DESCRIBE} ARNs, got {len(arns)}.")
    return arns
