"""Task definitions: RegisterTaskDefinition, DescribeTaskDefinition, ListTaskDefinitions,
ListTaskDefinitionFamilies, DeregisterTaskDefinition.

A definition that requires FARGATE must use ``networkMode: awsvpc``, give task-level ``cpu``
and ``memory`` as a pair Fargate offers (``simulator.ecs.sizes``), run an OS family and CPU
architecture Fargate runs, and keep ``ephemeralStorage.sizeInGiB`` within 21–200.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.ecs import fargate_rules, platforms, sizes
from simulator.ecs.common import authorize_call, check_name, copy_tags, ecs_arn, paginate

if TYPE_CHECKING:
    from simulator.service import CallContext

EPHEMERAL_MIN_GIB = 21
EPHEMERAL_MAX_GIB = 200
#: The size a task gets when neither the definition nor an override asks for more.
EPHEMERAL_DEFAULT_GIB = 20

#: Defaults ECS fills into a container definition it stores.
_CONTAINER_DEFAULTS: dict[str, Any] = {
    "cpu": 0,
    "portMappings": [],
    "essential": True,
    "environment": [],
    "mountPoints": [],
    "volumesFrom": [],
    "systemControls": [],
}


@dataclass(eq=False)
class TaskDefinition:
    """One revision of a task definition family."""

    account: str
    family: str
    revision: int
    arn: str
    body: dict[str, Any]
    registered_at: datetime
    registered_by: str
    status: str = "ACTIVE"
    deregistered_at: datetime | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    #: When DeleteTaskDefinitions asked for it (status DELETE_IN_PROGRESS), and whether it is
    #: gone: deleted once no task or service uses it any more.
    delete_requested_at: datetime | None = None
    deleted: bool = False

    @property
    def os_family(self) -> str:
        """runtimePlatform.operatingSystemFamily (LINUX when not given)."""
        return (self.body.get("runtimePlatform") or {}).get("operatingSystemFamily", "LINUX")

    @property
    def arm64(self) -> bool:
        """Whether the definition asks for ARM64."""
        return (self.body.get("runtimePlatform") or {}).get("cpuArchitecture") == "ARM64"

    @cached_property
    def fargate_ok(self) -> bool:
        """Whether the definition can run on Fargate (it lists FARGATE in compatibilities).
        Worked out once: a registered revision never changes (every RunTask asks)."""
        return fargate_compatible(self.body)

    @property
    def compatibilities(self) -> list[str]:
        """The launch types the definition can run on, as ECS lists them."""
        return ["EC2", "FARGATE"] if self.fargate_ok else ["EC2"]

    @property
    def container_names(self) -> list[str]:
        """The containers' names, in order."""
        return [c["name"] for c in self.body["containerDefinitions"]]

    @property
    def ephemeral_gib(self) -> int | None:
        """ephemeralStorage.sizeInGiB, or None when not given."""
        return (self.body.get("ephemeralStorage") or {}).get("sizeInGiB")

    @property
    def why_inactive(self) -> str:
        """Why a new task, service or deployment may not use this revision (the simulator's
        words beside ECS's "TaskDefinition is inactive")."""
        if self.status == "DELETE_IN_PROGRESS":
            return (f"{self.arn} was deregistered and is being deleted (DELETE_IN_PROGRESS): "
                    "tasks and services using it run on, nothing new may use it")
        return f"{self.arn} was deregistered."

    def describe(self) -> dict[str, Any]:
        """The ``TaskDefinition`` shape."""
        out: dict[str, Any] = {"taskDefinitionArn": self.arn}
        out.update(copy.deepcopy(self.body))
        out["family"] = self.family
        out["revision"] = self.revision
        out.setdefault("volumes", [])
        out["status"] = self.status
        out["requiresAttributes"] = self._requires_attributes()
        out.setdefault("placementConstraints", [])
        out["compatibilities"] = self.compatibilities
        out["registeredAt"] = self.registered_at
        out["registeredBy"] = self.registered_by
        if self.deregistered_at is not None:
            out["deregisteredAt"] = self.deregistered_at
        if self.delete_requested_at is not None:
            out["deleteRequestedAt"] = self.delete_requested_at
        return out

    def _requires_attributes(self) -> list[dict[str, str]]:
        names = ["com.amazonaws.ecs.capability.docker-remote-api.1.18"]
        if self.body.get("networkMode") == "awsvpc":
            names.append("ecs.capability.task-eni")
        if self.body.get("ephemeralStorage"):
            names.append("ecs.capability.ephemeral-storage")
        if self.arm64:
            names.append("ecs.cpu-architecture")
        return [{"name": n} for n in names]


def fargate_compatible(body: dict[str, Any]) -> bool:
    """Whether a stored definition can run on Fargate."""
    if body.get("networkMode") != "awsvpc" or not body.get("cpu") or not body.get("memory"):
        return False
    windows = platforms.is_windows(
        (body.get("runtimePlatform") or {}).get("operatingSystemFamily")
    )
    try:
        sizes.check_fargate_size(int(body["cpu"]), int(body["memory"]), windows=windows)
    except errors.ClientError:
        return False
    return next(fargate_rules.violations(body, fargate=True), None) is None


def _check_containers(defs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # ECS's words, as real answers quote them: "Container list cannot be empty."
    # (awsdocs/aws-cloudformation-user-guide#454), "Container.name should not be null or
    # empty." (awsdocs/aws-cloudformation-user-guide#612), "Container.image should not be null
    # or empty." (aws/aws-cli#5924), "Container names must be unique within a Task
    # Definition." (Shippable/support#2946). Which container, in the explanation.
    if not defs:
        raise errors.ClientException("Container list cannot be empty.")
    out, seen = [], set()
    for i, c in enumerate(defs):
        name = c.get("name")
        if not name:
            raise errors.ClientException("Container.name should not be null or empty.",
                                         explanation=f"containerDefinitions[{i}] has no name.")
        if not c.get("image"):
            raise errors.ClientException("Container.image should not be null or empty.",
                                         explanation=f"Container '{name}' has no image.")
        if name in seen:
            raise errors.ClientException(
                "Container names must be unique within a Task Definition.",
                explanation=f"The container name '{name}' appears more than once.")
        seen.add(name)
        stored = copy.deepcopy(_CONTAINER_DEFAULTS)
        stored.update(copy.deepcopy(c))
        out.append(stored)
    if not any(c["essential"] for c in out):
        raise errors.ClientException(
            "At least one essential container is required in the task definition."
        )
    return out


def _check_ephemeral(storage: dict[str, Any] | None, where: str) -> None:
    if storage is None:
        return
    size = storage.get("sizeInGiB")
    if not isinstance(size, int) or not EPHEMERAL_MIN_GIB <= size <= EPHEMERAL_MAX_GIB:
        raise errors.ClientException(
            f"The ephemeral storage size in {where} must be between {EPHEMERAL_MIN_GIB} and "
            f"{EPHEMERAL_MAX_GIB} GiB, got {size}."
        )


def validate_body(params: dict[str, Any]) -> dict[str, Any]:
    """The definition as ECS stores it (normalised cpu/memory), or a ClientException."""
    body = {k: copy.deepcopy(v) for k, v in params.items() if k not in ("tags",)}
    body["containerDefinitions"] = _check_containers(params["containerDefinitions"])
    if "cpu" in params:
        body["cpu"] = str(sizes.parse_cpu(params["cpu"]))
    if "memory" in params:
        body["memory"] = str(sizes.parse_memory(params["memory"]))
    _check_ephemeral(params.get("ephemeralStorage"), "ephemeralStorage")
    runtime = params.get("runtimePlatform") or {}
    os_family = runtime.get("operatingSystemFamily", "LINUX")
    requires = params.get("requiresCompatibilities") or []
    if "FARGATE" in requires:
        if params.get("networkMode") != "awsvpc":
            # AWS's words, curly quotes included (aws/amazon-ecs-cli#1145).
            raise errors.ClientException("Fargate only supports network mode \u2018awsvpc\u2019.")
        if "cpu" not in params:
            raise errors.ClientException(
                "Fargate requires that 'cpu' be defined at the task level."
            )
        if "memory" not in params:
            raise errors.ClientException(
                "Fargate requires that 'memory' be defined at the task level."
            )
        windows = platforms.is_windows(os_family)
        if windows and os_family not in platforms.FARGATE_WINDOWS:
            raise errors.ClientException(
                f"Fargate does not run the operating system family {os_family}. Windows "
                f"families on Fargate: {', '.join(platforms.FARGATE_WINDOWS)}."
            )
        if windows and runtime.get("cpuArchitecture") == "ARM64":
            raise errors.ClientException(
                "Fargate runs Windows containers on X86_64 only, not ARM64."
            )
        sizes.check_fargate_size(int(body["cpu"]), int(body["memory"]), windows=windows)
    fargate_rules.check(body, fargate="FARGATE" in requires)
    return body


class TaskDefinitionOps:
    """The task definition operations of ``EcsService``."""

    taskdefs: dict[tuple[str, str], list[TaskDefinition]]
    clusters: dict[tuple[str, str], Any]

    def _gone(self, td: TaskDefinition) -> bool:
        """Whether the revision is deleted: DELETE_IN_PROGRESS "until all the associated tasks
        and services have been terminated" (API_DeleteTaskDefinitions), then gone for good."""
        if td.deleted or td.status != "DELETE_IN_PROGRESS":
            return td.deleted
        for (account, _), cluster in self.clusters.items():
            if account != td.account:
                continue
            if any(t.taskdef is td and t.last_status != "STOPPED"
                   for t in cluster.tasks.values()):
                return False
            for svc in cluster.services.values():
                if svc.status == "INACTIVE":
                    continue
                if any(d.taskdef is td for d in svc.deployments) or any(
                        ts.deployment.taskdef is td for ts in svc.task_sets):
                    return False
        td.deleted = True
        return True

    def find_taskdef(self, ctx: CallContext, ref: str) -> TaskDefinition | None:
        """Resolve ``family``, ``family:revision`` or an ARN (latest ACTIVE for a family)."""
        text = ref
        account = ctx.account
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) < 6 or not parts[5].startswith("task-definition/"):
                return None
            account = parts[4]
            text = parts[5][len("task-definition/"):]
        family, _, rev = text.partition(":")
        revisions = self.taskdefs.get((account, family))
        if not revisions:
            return None
        if rev:
            if not rev.isdigit() or not 1 <= int(rev) <= len(revisions):
                return None
            found = revisions[int(rev) - 1]
            return None if self._gone(found) else found
        active = [r for r in revisions if r.status == "ACTIVE"]
        return active[-1] if active else None

    def taskdef(self, ctx: CallContext, ref: str) -> TaskDefinition:
        """The task definition ``ref`` names, or ClientException."""
        found = self.find_taskdef(ctx, ref)
        if found is None:
            # AWS's words (a real answer quoted in
            # https://github.com/sil-org/ecs-deploy/issues/145); which one, in the explanation.
            raise errors.ClientException("Unable to describe task definition.",
                                         explanation=f"No task definition {ref} is registered.")
        return found

    def RegisterTaskDefinition(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Register the next revision of a family."""
        family = params["family"]
        check_name(family, "Family")
        revisions = self.taskdefs.get((ctx.account, family), [])
        revision = len(revisions) + 1
        arn = ecs_arn(ctx, ctx.account, f"task-definition/{family}:{revision}", ctx.sim.partition)
        authorize_call(ctx, arn)
        body = validate_body(params)
        tags = copy_tags(params.get("tags"))
        td = TaskDefinition(
            account=ctx.account, family=family, revision=revision, arn=arn, body=body,
            registered_at=ctx.now, registered_by=ctx.caller.session_arn or ctx.caller.arn,
            tags=tags,
        )
        self.taskdefs.setdefault((ctx.account, family), []).append(td)
        out: dict[str, Any] = {"taskDefinition": td.describe()}
        if tags:
            out["tags"] = copy.deepcopy(tags)
        return out

    def DescribeTaskDefinition(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Describe one revision (the latest ACTIVE one for a bare family name)."""
        td = self.find_taskdef(ctx, params["taskDefinition"])
        authorize_call(ctx, td.arn if td else "*")
        if td is None:
            raise errors.ClientException(
                "Unable to describe task definition.",
                explanation=f"No task definition {params['taskDefinition']} is registered in "
                "this account and Region.")
        out: dict[str, Any] = {"taskDefinition": td.describe()}
        if "TAGS" in (params.get("include") or ()):
            out["tags"] = copy.deepcopy(td.tags)
        return out

    def ListTaskDefinitions(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Task definition ARNs filtered by family prefix and status, sorted by family/revision."""
        authorize_call(ctx)
        status = params.get("status", "ACTIVE")
        prefix = params.get("familyPrefix")
        rows: list[TaskDefinition] = []
        for (account, family), revisions in sorted(self.taskdefs.items()):
            if account != ctx.account:
                continue
            if prefix is not None and family != prefix:
                continue
            rows.extend(r for r in revisions if r.status == status and not self._gone(r))
        if params.get("sort") == "DESC":
            rows.reverse()
        return paginate("ListTaskDefinitions", [r.arn for r in rows], params)

    def ListTaskDefinitionFamilies(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Family names, filtered by prefix and by whether they have an ACTIVE revision."""
        authorize_call(ctx)
        status = params.get("status", "ALL")
        prefix = params.get("familyPrefix") or ""
        families = []
        for (account, family), revisions in sorted(self.taskdefs.items()):
            if account != ctx.account or not family.startswith(prefix):
                continue
            if all(self._gone(r) for r in revisions):
                # "When you delete all INACTIVE task definition revisions, the task
                # definition name is not ... returned in the API" (API_DeleteTaskDefinitions)
                continue
            active = any(r.status == "ACTIVE" for r in revisions)
            if status == "ALL" or (status == "ACTIVE") == active:
                families.append(family)
        return paginate("ListTaskDefinitionFamilies", families, params)

    def DeregisterTaskDefinition(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Mark one revision INACTIVE; running tasks and services keep using it."""
        ref = params["taskDefinition"]
        td = self.find_taskdef(ctx, ref) if ":" in ref.rsplit("/", 1)[-1] else None
        authorize_call(ctx, td.arn if td else "*")
        if td is None:
            raise errors.ClientException(
                "The specified task definition does not exist.",
                explanation=f"No task definition {ref} is registered. DeregisterTaskDefinition "
                "needs family:revision or the full ARN.",
            )
        if td.status == "ACTIVE":
            td.status = "INACTIVE"
            td.deregistered_at = ctx.now
        return {"taskDefinition": td.describe()}

    #: DeleteTaskDefinitions' failure reasons, in ECS's words as moto's tests record them
    #: (getmoto/moto tests/test_ecs/test_ecs_task_def_tags... test_delete_task_definitions).
    DELETE_FAILURES: dict[str, str] = {
        "invalid": "The specified task definition identifier is invalid. Specify a valid name "
                   "or ARN and try again.",
        "missing": "The specified task definition does not exist. Specify a valid account, "
                   "family, revision and try again.",
        "active": "The specified task definition is still in ACTIVE status. Please deregister "
                  "the target and try again.",
    }

    def DeleteTaskDefinitions(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Delete deregistered revisions: each goes from INACTIVE to DELETE_IN_PROGRESS at
        once, and is gone when no task or service uses it any more (until then it runs on,
        but no new task, service or deployment may use it); an ACTIVE, unknown or
        revision-less one is a failure.
        https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DeleteTaskDefinitions.html
        """
        refs = params["taskDefinitions"]
        if not 1 <= len(refs) <= 10:
            # moto's words for it ("up to 10 task definitions", botocore's model says)
            raise errors.InvalidParameterException(
                "Size of TaskDefinition references list cannot exceed 10" if refs else
                "size of TaskDefinition references list must be greater than 0")
        # every reference resolved before any revision changes: one named twice in a request
        # is the same answer twice, not a deleted one the second time
        resolved: list[tuple[str, TaskDefinition | None, str | None]] = []
        for ref in refs:
            name = ref.rsplit("task-definition/", 1)[-1] if ref.startswith("arn:") else ref
            family, _, rev = name.partition(":")
            td = self.find_taskdef(ctx, ref) if family and rev else None
            authorize_call(ctx, td.arn if td else "*")
            why = ("invalid" if not (family and rev) else "missing" if td is None
                   else "active" if td.status == "ACTIVE" else None)
            resolved.append((ref, td, why))
        found: list[TaskDefinition] = []
        failures: list[dict[str, str]] = []
        for ref, td, why in resolved:
            if why is not None or td is None:
                failures.append({"arn": ref, "reason": self.DELETE_FAILURES[why or "missing"]})
                continue
            if td.status == "INACTIVE":
                td.status = "DELETE_IN_PROGRESS"
                td.delete_requested_at = ctx.now
            if td not in found:
                found.append(td)
        return {"taskDefinitions": [td.describe() for td in found], "failures": failures}
