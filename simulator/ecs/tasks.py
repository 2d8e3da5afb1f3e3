"""Tasks: RunTask, StartTask, DescribeTasks, ListTasks, StopTask, and the Task record.

A task's ephemeral storage key is fixed when the task is created: the cluster's
``fargateEphemeralStorageKmsKeyId`` at RunTask time, or its deployment's key for a service
task. Windows tasks and Linux tasks on platform versions before 1.4.0 never use the key; the
task says so in ``attributes`` (``fargate-sim.ephemeral-storage.*``) and carries no
``fargateEphemeralStorage.kmsKeyId``.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.client import uuid4_text
from simulator.ecs import ebs, platforms, sizes
from simulator.ecs.clusters import launch_choice
from simulator.ecs.common import (
    authorize_call,
    copy_tags,
    ecs_arn,
    hex_id,
    paginate,
    parse_reference,
    plain_copy,
    short_id,
)
from simulator.ecs.taskdefs import (
    EPHEMERAL_DEFAULT_GIB,
    EPHEMERAL_MAX_GIB,
    EPHEMERAL_MIN_GIB,
    TaskDefinition,
)

if TYPE_CHECKING:
    from simulator.clock import ScheduledCall
    from simulator.ecs.clusters import Cluster
    from simulator.ecs.ebs import ManagedVolume
    from simulator.ecs.ecs_services import Deployment, EcsServiceRecord
    from simulator.service import CallContext

#: RunTask launches at most this many tasks per call.
MAX_RUN_COUNT = 10
#: Request-rate quotas (per account): RunTask calls, and Fargate task launches (token bucket).
RUN_TASK_QUOTA = "ecs:RunTask"
RUN_TASK_RATE = 20.0
LAUNCH_QUOTA = "fargate:TaskLaunchRate"
LAUNCH_RATE = 20.0
LAUNCH_BURST = 100.0

#: Attribute names the simulator adds to explain a task's ephemeral storage encryption.
ATTR_ENCRYPTION = "fargate-sim.ephemeral-storage.encryption"
ATTR_CMK_UNAVAILABLE = "fargate-sim.ephemeral-storage.cmk-unavailable"

_AZ_SUFFIXES = ("a", "b", "c")


@dataclass(eq=False)
class Container:
    """One container of a task."""

    name: str
    image: str
    arn: str
    runtime_id: str
    last_status: str = "PENDING"
    exit_code: int | None = None
    reason: str | None = None


@dataclass(eq=False)
class Task:
    """One Fargate task: what ECS knows of it and the state the lifecycle moves on."""

    arn: str
    id: str
    cluster: Cluster
    taskdef: TaskDefinition
    platform_version: str
    os_family: str
    cpu: str
    memory: str
    created_at: datetime
    launch_type: str = "FARGATE"
    capacity_provider: str | None = None
    ephemeral_gib: int | None = EPHEMERAL_DEFAULT_GIB
    kms_key_id: str | None = None
    #: How the storage is encrypted, as the provisioner decided (``fargate.encryption``).
    encryption: str = "AWS_OWNED_KEY"
    cmk_unavailable: str | None = None
    started_by: str | None = None
    group: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    tags: list[dict[str, str]] = field(default_factory=list)
    enable_execute_command: bool = False
    subnet: str = ""
    availability_zone: str = ""
    eni_id: str = ""
    eni_attachment: str = ""
    private_ip: str = ""
    containers: list[Container] = field(default_factory=list)
    service: EcsServiceRecord | None = None
    deployment: Deployment | None = None
    #: Managed EBS volumes to create and attach (``volumeConfigurations``).
    ebs_volumes: list[ManagedVolume] = field(default_factory=list)
    #: EBS volume ids of those volumes once created (volume name -> vol-...).
    ebs_volume_ids: dict[str, str] = field(default_factory=dict)
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    version: int = 1
    connectivity_at: datetime | None = None
    pull_started_at: datetime | None = None
    pull_stopped_at: datetime | None = None
    started_at: datetime | None = None
    stopping_at: datetime | None = None
    execution_stopped_at: datetime | None = None
    stopped_at: datetime | None = None
    stop_code: str | None = None
    stopped_reason: str | None = None
    timer: ScheduledCall | None = None

    @property
    def windows(self) -> bool:
        """Whether the task runs a Windows OS family."""
        return platforms.is_windows(self.os_family)

    @property
    def family(self) -> str:
        """The task definition family."""
        return self.taskdef.family

    @property
    def stopped(self) -> bool:
        """Whether lastStatus is STOPPED."""
        return self.last_status == "STOPPED"

    def forget(self) -> None:
        """Drop a long-STOPPED task from its cluster (ECS shows stopped tasks for a while)."""
        if self.cluster.tasks.get(self.id) is self:
            del self.cluster.tasks[self.id]
        if self.service is not None:
            self.service.tasks.pop(self.id, None)

    @property
    def mac_address(self) -> str:
        """The ENI's MAC address (derived from the ENI id, so it needs no extra randomness)."""
        d = (self.eni_id.removeprefix("eni-") + "0" * 10)[:10]
        return f"0a:{d[0:2]}:{d[2:4]}:{d[4:6]}:{d[6:8]}:{d[8:10]}"

    @property
    def private_dns_name(self) -> str:
        """``ip-10-0-1-2.<region>.compute.internal``, as EC2 names a private address."""
        region = self.cluster.arn.split(":")[3]
        return f"ip-{self.private_ip.replace('.', '-')}.{region}.compute.internal"

    def _eni_status(self) -> str:
        return {
            "PROVISIONING": "PRECREATED",
            "DEPROVISIONING": "DELETED" if self.started_at is None else "DETACHING",
            "STOPPED": "DELETED",
        }.get(self.last_status, "ATTACHED")

    def attributes(self) -> list[dict[str, str]]:
        """ECS's cpu-architecture attribute plus the simulator's storage explanation."""
        arch = "arm64" if self.taskdef.arm64 else "x86_64"
        out = [{"name": "ecs.cpu-architecture", "value": arch},
               {"name": ATTR_ENCRYPTION, "value": self.encryption}]
        if self.cmk_unavailable:
            out.append({"name": ATTR_CMK_UNAVAILABLE, "value": self.cmk_unavailable})
        return out

    def describe(self, include_tags: bool = False) -> dict[str, Any]:
        """The ``Task`` shape."""
        attachment = {
            "id": self.eni_attachment,
            "type": "ElasticNetworkInterface",
            "status": self._eni_status(),
            "details": [
                {"name": "subnetId", "value": self.subnet},
                {"name": "networkInterfaceId", "value": self.eni_id},
                {"name": "macAddress", "value": self.mac_address},
                {"name": "privateDnsName", "value": self.private_dns_name},
                {"name": "privateIPv4Address", "value": self.private_ip},
            ],
        }
        attachments = [attachment]
        for vol in self.ebs_volumes:
            vol_id = self.ebs_volume_ids.get(vol.name)
            details = [{"name": "volumeName", "value": vol.name},
                       {"name": "volumeType", "value": vol.volume_type},
                       {"name": "volumeSizeInGiB", "value": str(vol.size_gib)},
                       {"name": "encrypted", "value": str(vol.encrypted).lower()}]
            if vol_id:
                details.insert(0, {"name": "volumeId", "value": vol_id})
            if vol.kms_key_id:
                details.append({"name": "kmsKeyId", "value": vol.kms_key_id})
            attachments.append({
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.eni_attachment}/{vol.name}")),
                "type": "AmazonElasticBlockStorage",
                "status": "ATTACHED" if vol_id and not self.stopped else (
                    "DELETED" if self.stopped else "PRECREATED"),
                "details": details,
            })
        containers = []
        for c in self.containers:
            item: dict[str, Any] = {
                "containerArn": c.arn,
                "taskArn": self.arn,
                "name": c.name,
                "image": c.image,
                "lastStatus": c.last_status,
                "networkInterfaces": [
                    {"attachmentId": self.eni_attachment, "privateIpv4Address": self.private_ip}
                ],
                "healthStatus": "UNKNOWN",
                "cpu": "0",
            }
            if c.last_status == "RUNNING":
                item["runtimeId"] = c.runtime_id
            if c.exit_code is not None:
                item["exitCode"] = c.exit_code
            if c.reason:
                item["reason"] = c.reason
            containers.append(item)
        out: dict[str, Any] = {
            "attachments": attachments,
            "attributes": self.attributes(),
            "availabilityZone": self.availability_zone,
            "clusterArn": self.cluster.arn,
            "containers": containers,
            "cpu": self.cpu,
            "createdAt": self.created_at,
            "desiredStatus": self.desired_status,
            "enableExecuteCommand": self.enable_execute_command,
            "group": self.group or f"family:{self.family}",
            "healthStatus": "UNKNOWN",
            "lastStatus": self.last_status,
            "launchType": self.launch_type,
            "memory": self.memory,
            "overrides": plain_copy(self.overrides),
            "platformVersion": self.platform_version,
            "platformFamily": platforms.platform_family(self.os_family),
            "tags": plain_copy(self.tags) if include_tags else [],
            "taskArn": self.arn,
            "taskDefinitionArn": self.taskdef.arn,
            "version": self.version,
        }
        if self.capacity_provider:
            out["capacityProviderName"] = self.capacity_provider
        if self.connectivity_at is not None:
            out["connectivity"] = "CONNECTED" if not self.stopped else "DISCONNECTED"
            out["connectivityAt"] = self.connectivity_at
        for name, value in (
            ("pullStartedAt", self.pull_started_at),
            ("pullStoppedAt", self.pull_stopped_at),
            ("startedAt", self.started_at),
            ("stoppingAt", self.stopping_at),
            ("executionStoppedAt", self.execution_stopped_at),
            ("stoppedAt", self.stopped_at),
            ("startedBy", self.started_by),
            ("stopCode", self.stop_code),
            ("stoppedReason", self.stopped_reason),
        ):
            if value is not None:
                out[name] = value
        if self.ephemeral_gib is not None:
            out["ephemeralStorage"] = {"sizeInGiB": self.ephemeral_gib}
            fes: dict[str, Any] = {"sizeInGiB": self.ephemeral_gib}
            if self.kms_key_id is not None:
                fes["kmsKeyId"] = self.kms_key_id
            out["fargateEphemeralStorage"] = fes
        return out


@dataclass
class LaunchPlan:
    """Everything checked about a launch before any task exists."""

    cluster: Cluster
    taskdef: TaskDefinition
    platform_version: str
    cpu: int
    memory: int
    ephemeral_gib: int | None
    overrides: dict[str, Any]
    subnets: list[str]
    capacity_provider: str | None = None
    started_by: str | None = None
    group: str | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    enable_execute_command: bool = False
    kms_key_id: str | None = None
    service: EcsServiceRecord | None = None
    deployment: Deployment | None = None
    ebs_volumes: list[ManagedVolume] = field(default_factory=list)


def check_network(td: TaskDefinition, network: dict[str, Any] | None) -> list[str]:
    """The subnets of an awsvpc network configuration, or InvalidParameterException."""
    vpc = (network or {}).get("awsvpcConfiguration")
    if td.body.get("networkMode") == "awsvpc" and not vpc:
        raise errors.InvalidParameterException(
            "Network Configuration must be provided when networkMode 'awsvpc' is specified."
        )
    subnets = list((vpc or {}).get("subnets") or [])
    if vpc is not None and not subnets:
        raise errors.InvalidParameterException("subnets can not be empty.")
    for s in subnets:
        if not s.startswith("subnet-"):
            raise errors.InvalidParameterException(
                f"Error retrieving subnet information for [{s}]: The subnet ID '{s}' is "
                "malformed (subnet-<hex>)."
            )
    if len(subnets) > 16:
        raise errors.InvalidParameterException("At most 16 subnets may be given.")
    return subnets


def check_overrides(td: TaskDefinition, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The overrides as the task will show them; InvalidParameterException when malformed."""
    overrides = copy.deepcopy(overrides or {})
    names = set(td.container_names)
    for co in overrides.get("containerOverrides") or []:
        if co.get("name") not in names:
            raise errors.InvalidParameterException(
                f"Override for container named {co.get('name')} is not a container in the "
                "TaskDefinition."
            )
    storage = overrides.get("ephemeralStorage")
    if storage is not None:
        size = storage.get("sizeInGiB")
        if not isinstance(size, int) or not EPHEMERAL_MIN_GIB <= size <= EPHEMERAL_MAX_GIB:
            raise errors.InvalidParameterException(
                f"The ephemeral storage size override must be between {EPHEMERAL_MIN_GIB} and "
                f"{EPHEMERAL_MAX_GIB} GiB, got {size}."
            )
    # A task shows one container override per container of its task definition, by name,
    # whether or not the call overrode it (the CLI's run-task and describe-tasks examples:
    # "containerOverrides": [{"name": "sleep"}] for a call without --overrides).
    given = {co["name"]: co for co in overrides.get("containerOverrides") or []}
    overrides["containerOverrides"] = [given.get(name, {"name": name})
                                       for name in td.container_names]
    overrides.setdefault("inferenceAcceleratorOverrides", [])
    return overrides


class TaskOps:
    """The task operations of ``EcsService``; ``launch`` is shared with the service scheduler."""

    # provided by EcsService
    lifecycle: Any
    sim: Any
    options: Any

    # -- planning and launching ------------------------------------------------------------
    def plan_launch(
        self,
        cluster: Cluster,
        td: TaskDefinition,
        *,
        platform_version: str | None,
        network: dict[str, Any] | None,
        overrides: dict[str, Any] | None = None,
        capacity_provider: str | None = None,
    ) -> LaunchPlan:
        """Check a Fargate launch of ``td``; raise before anything is created."""
        if not td.fargate_ok:
            raise errors.InvalidParameterException(
                "Task definition does not support launch_type FARGATE."
            )
        subnets = check_network(td, network)
        overrides = check_overrides(td, overrides)
        windows = platforms.is_windows(td.os_family)
        cpu = sizes.parse_cpu(overrides.get("cpu", td.body["cpu"]))
        memory = sizes.parse_memory(overrides.get("memory", td.body["memory"]))
        if "cpu" in overrides or "memory" in overrides:
            try:
                sizes.check_fargate_size(cpu, memory, windows=windows)
            except errors.ClientError as exc:
                raise errors.InvalidParameterException(
                    exc.message, explanation=exc.explanation) from None
        version = platforms.resolve(platform_version, td.os_family, self.sim.clock.now(),
                                    self.sim.partition)
        asked = (overrides.get("ephemeralStorage") or {}).get("sizeInGiB") or td.ephemeral_gib
        platforms.check_capabilities(
            version, td.os_family, arm64=td.arm64, cpu=cpu, ephemeral_gib=asked
        )
        legacy = not windows and not platforms.supports_cmk(version, td.os_family)
        gib = None if legacy else (asked or EPHEMERAL_DEFAULT_GIB)
        return LaunchPlan(
            cluster=cluster, taskdef=td, platform_version=version, cpu=cpu, memory=memory,
            ephemeral_gib=gib, overrides=overrides, subnets=subnets,
            capacity_provider=capacity_provider,
        )

    def check_volumes(
        self, plan: LaunchPlan, configs: list[dict[str, Any]] | None,
        ctx: CallContext | None = None,
    ) -> list[ManagedVolume]:
        """The launch's managed EBS volumes, checked (Linux platform 1.4.0+ only); with the
        caller's ``ctx``, that it may pass each infrastructure role to ECS."""
        volumes = ebs.check(plan.taskdef, plan.cluster, configs,
                            self.options.ebs_key_precedence)
        for vol in volumes:
            if ctx is not None:
                # The caller passes the infrastructure role to ECS ("iam:PassRole" on
                # roleArn, ebs-volumes page: infrastructure IAM role).
                authorize_call(ctx, vol.role_arn, {"iam:PassedToService": "ecs.amazonaws.com"},
                               action="iam:PassRole")
        td = plan.taskdef
        if volumes and not platforms.supports_cmk(plan.platform_version, td.os_family):
            raise errors.InvalidParameterException(
                "Amazon EBS volumes can be attached to Fargate tasks on Linux platform version "
                f"1.4.0 or later only; this task runs {td.os_family} {plan.platform_version}."
            )
        return volumes

    def take_launch_tokens(self, account: str, count: int) -> bool:
        """Consume ``count`` from the account's Fargate launch-rate bucket."""
        return self.sim.rate_limiter.allow(LAUNCH_QUOTA, account, count)

    def launch(self, plan: LaunchPlan, count: int) -> list[Task]:
        """Create ``count`` tasks from a checked plan and start their lives."""
        sim = self.sim
        cluster = plan.cluster
        td = plan.taskdef
        cluster_key = cluster.fargate_key
        if plan.deployment is not None and self.options.replacement_task_key == "deployment":
            cluster_key = plan.kms_key_id
        key, encryption, why = self.lifecycle.provisioner.storage_encryption(
            td.os_family, plan.platform_version, cluster_key
        )
        out = []
        now = sim.clock.now()
        for _ in range(count):
            task_id = hex_id(sim)
            arn = ecs_arn(sim.region, cluster.account, f"task/{cluster.name}/{task_id}",
                          sim.partition)
            index = sim.rng.randrange(len(plan.subnets) or 1)
            subnet = plan.subnets[index] if plan.subnets else ""
            task = Task(
                arn=arn, id=task_id, cluster=cluster, taskdef=td,
                platform_version=plan.platform_version, os_family=td.os_family,
                cpu=str(plan.cpu), memory=str(plan.memory), created_at=now,
                capacity_provider=plan.capacity_provider, ephemeral_gib=plan.ephemeral_gib,
                kms_key_id=key, encryption=encryption, cmk_unavailable=why,
                started_by=plan.started_by, group=plan.group, overrides=plan.overrides,
                tags=plain_copy(plan.tags), enable_execute_command=plan.enable_execute_command,
                subnet=subnet,
                availability_zone=f"{sim.region}{_AZ_SUFFIXES[index % len(_AZ_SUFFIXES)]}",
                eni_id=f"eni-{short_id(sim)}",
                eni_attachment=uuid4_text(sim.rng.getrandbits(128)),
                private_ip=f"10.0.{sim.rng.randrange(256)}.{sim.rng.randrange(1, 255)}",
                service=plan.service, deployment=plan.deployment,
                ebs_volumes=list(plan.ebs_volumes),
            )
            for c in td.body["containerDefinitions"]:
                cid = uuid4_text(sim.rng.getrandbits(128))
                task.containers.append(Container(
                    name=c["name"], image=c["image"],
                    arn=ecs_arn(sim.region, cluster.account,
                                f"container/{cluster.name}/{task_id}/{cid}", sim.partition),
                    runtime_id=f"{task_id}-{sim.rng.getrandbits(32)}",
                ))
            cluster.tasks[task_id] = task
            self.lifecycle.launch(task)
            self._schedule_termination(task)
            out.append(task)
        return out

    def _schedule_termination(self, task: Task) -> None:
        """Stop a task when its retired platform version's tasks are terminated.

        "All remaining running 1.3.0 tasks will be terminated on June 30, 2026"
        (platform-versions-retired page). The call is not one of ECS's tracked timers, so
        ``settle`` does not wait for it; advancing the clock past the date runs it.
        """
        if task.windows:
            return
        gone = platforms.retirement(task.platform_version, self.sim.partition)
        if gone is None or gone.terminated is None:
            return
        reason = (f"Linux platform version {task.platform_version} was retired; its remaining "
                  f"tasks are terminated on {gone.terminated:%Y-%m-%d} ({gone.source})")
        self.sim.clock.call_at(
            gone.terminated, lambda: self.lifecycle.stop(task, "TerminationNotice", reason)
        )

    def find_task(self, cluster: Cluster, ref: str) -> Task | None:
        """A task of ``cluster`` by id or ARN."""
        if ref.startswith("arn:"):
            _, ref = parse_reference(ref, "task")
        return cluster.tasks.get(ref)

    # -- operations ------------------------------------------------------------------------
    def RunTask(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Start 1–10 tasks on Fargate; they begin in PROVISIONING."""
        if not self.sim.rate_limiter.allow(RUN_TASK_QUOTA, ctx.account):
            raise errors.ThrottlingException("Rate exceeded")
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        td = self.find_taskdef(ctx, params["taskDefinition"])  # type: ignore[attr-defined]
        if td is None:
            raise errors.ClientException("TaskDefinition not found.")
        authorize_call(ctx, td.arn, {"ecs:cluster": cluster.arn})
        count = params.get("count", 1)
        if not 1 <= count <= MAX_RUN_COUNT:
            raise errors.InvalidParameterException(
                f"count must be between 1 and {MAX_RUN_COUNT} (got {count})."
            )
        if td.status != "ACTIVE":
            # AWS's code and words, as RunTask answers (quoted in DefangLabs/defang#775).
            raise errors.InvalidParameterException(
                "TaskDefinition is inactive", explanation=td.why_inactive)
        provider = self._launch_target(cluster, td, params)
        started_by = params.get("startedBy")
        if started_by is not None and len(started_by) > 128:
            raise errors.InvalidParameterException("startedBy may have up to 128 characters.")
        plan = self.plan_launch(
            cluster, td, platform_version=params.get("platformVersion"),
            network=params.get("networkConfiguration"), overrides=params.get("overrides"),
            capacity_provider=provider,
        )
        plan.started_by = started_by
        plan.ebs_volumes = self.check_volumes(plan, params.get("volumeConfigurations"), ctx)
        plan.group = params.get("group")
        plan.enable_execute_command = bool(params.get("enableExecuteCommand"))
        if plan.enable_execute_command and not (
            (params.get("overrides") or {}).get("taskRoleArn") or td.body.get("taskRoleArn")
        ):
            # "If true, then the task definition must have a task role, or you must provide
            # one as an override." (RunTask enableExecuteCommand)
            raise errors.InvalidParameterException(
                "The execute command failed because a valid task role is not being used. "
                "Specify a valid task role in your task definition or as a task override and "
                "try again."
            )
        tags = copy_tags(params.get("tags"))
        if params.get("propagateTags") == "SERVICE":
            # "An error will be received if you specify the SERVICE option when running a
            # task." (RunTask propagateTags)
            raise errors.InvalidParameterException(
                "propagateTags SERVICE is not supported for RunTask: a standalone task has no "
                "service to propagate tags from. Use TASK_DEFINITION or NONE."
            )
        if params.get("propagateTags") == "TASK_DEFINITION":
            given = {t["key"] for t in tags}
            tags += [copy.deepcopy(t) for t in td.tags if t["key"] not in given]
        plan.tags = tags
        if not self.take_launch_tokens(ctx.account, count):
            raise errors.ThrottlingException("Rate exceeded")
        tasks = self.launch(plan, count)
        return {"tasks": [t.describe(include_tags=True) for t in tasks], "failures": []}

    def _launch_target(
        self, cluster: Cluster, td: TaskDefinition, params: dict[str, Any]
    ) -> str | None:
        """The capacity provider (or None for launchType FARGATE); refuse non-Fargate."""
        launch_type, strategy = launch_choice(cluster, params)
        if strategy:
            return max(strategy, key=lambda i: (i.get("base", 0), i.get("weight", 0)))[
                "capacityProvider"
            ]
        if launch_type != "FARGATE":
            if td.body.get("requiresCompatibilities") == ["FARGATE"]:
                raise errors.InvalidParameterException(
                    f"Task definition does not support launch_type {launch_type}."
                )
            raise errors.InvalidParameterException(
                "No Container Instances were found in your cluster.",
                explanation="The simulator models Fargate only: use launchType FARGATE or a "
                            "FARGATE capacity provider.")
        return None

    def StartTask(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """EC2 only in AWS: a Fargate cluster has no container instances to start on."""
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        td = self.find_taskdef(ctx, params["taskDefinition"])  # type: ignore[attr-defined]
        if td is None:
            raise errors.ClientException("TaskDefinition not found.")
        authorize_call(ctx, td.arn, {"ecs:cluster": cluster.arn})
        refs = params["containerInstances"]
        if not 1 <= len(refs) <= MAX_RUN_COUNT:
            raise errors.InvalidParameterException(
                f"containerInstances must list between 1 and {MAX_RUN_COUNT} container instances."
            )
        failures = []
        for ref in refs:
            arn = ref if ref.startswith("arn:") else ecs_arn(
                ctx, ctx.account, f"container-instance/{cluster.name}/{ref}", ctx.sim.partition
            )
            failures.append({
                "arn": arn, "reason": "MISSING",
                "detail": "No such container instance: Fargate clusters have none. StartTask "
                          "places tasks on EC2 container instances; use RunTask with "
                          "launchType FARGATE.",
            })
        return {"tasks": [], "failures": failures}

    def DescribeTasks(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Describe up to 100 tasks of one cluster (STOPPED ones for an hour)."""
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        refs = params["tasks"]
        if not refs:
            raise errors.InvalidParameterException("Tasks cannot be empty.")
        if len(refs) > 100:
            # ECS's words, as an SDK recorded them (https://github.com/gchq/sleeper/issues/555).
            raise errors.InvalidParameterException(
                "taskIds can have at most 100 items.",
                explanation=f"DescribeTasks takes at most 100 tasks, got {len(refs)}",
            )
        include_tags = "TAGS" in (params.get("include") or ())
        tasks, failures = [], []
        for ref in refs:
            task = self.find_task(cluster, ref)
            if task is None:
                arn = ref if ref.startswith("arn:") else ecs_arn(
                    ctx, ctx.account, f"task/{cluster.name}/{ref}", ctx.sim.partition
                )
                authorize_call(ctx, arn, {"ecs:cluster": cluster.arn})
                failures.append({"arn": arn, "reason": "MISSING"})
                continue
            authorize_call(ctx, task.arn, {"ecs:cluster": cluster.arn})
            tasks.append(task.describe(include_tags))
        return {"tasks": tasks, "failures": failures}

    def ListTasks(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Task ARNs of a cluster filtered by family, service, startedBy, desired status."""
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        authorize_call(ctx, "*", {"ecs:cluster": cluster.arn})
        desired = params.get("desiredStatus", "RUNNING")
        family = params.get("family")
        started_by = params.get("startedBy")
        service_name = params.get("serviceName")
        if service_name is not None:
            _, service_name = parse_reference(service_name, "service")
            if service_name not in cluster.services:
                raise errors.ServiceNotFoundException("Service not found.")
        launch_type = params.get("launchType")
        if params.get("containerInstance") or launch_type not in (None, "FARGATE"):
            arns: list[str] = []
        else:
            arns = [
                t.arn for t in cluster.tasks.values()
                if t.desired_status == desired
                and (family is None or t.family == family)
                and (started_by is None or t.started_by == started_by)
                and (service_name is None
                     or (t.service is not None and t.service.name == service_name))
            ]
        return paginate("ListTasks", arns, params)

    def StopTask(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Ask a task to stop (stopCode UserInitiated); it reaches STOPPED as time passes.

        "Any tags associated with the task will be deleted" (StopTask, ECS API reference).
        """
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        task = self.find_task(cluster, params["task"])
        authorize_call(ctx, task.arn if task else "*", {"ecs:cluster": cluster.arn})
        if task is None:
            raise errors.InvalidParameterException("The referenced task was not found.")
        reason = params.get("reason")
        if reason is not None and len(reason) > 255:
            raise errors.InvalidParameterException("reason may have up to 255 characters.")
        self.lifecycle.stop(task, "UserInitiated", reason or "Task stopped by user")
        task.tags = []
        return {"task": task.describe(include_tags=True)}
