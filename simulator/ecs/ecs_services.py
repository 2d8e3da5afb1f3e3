"""Services: CreateService, UpdateService, DescribeServices, ListServices, DeleteService.

A service is a REPLICA service on Fargate. With the ECS rolling-update controller its
deployments and the scheduler that moves tasks between them are in ``deployments`` (its
service revisions in ``revisions``); with the EXTERNAL or CODE_DEPLOY controller its tasks
come from task sets (``tasksets``).
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.ecs import platforms
from simulator.ecs.clusters import launch_choice
from simulator.ecs.common import (
    authorize_call,
    check_name,
    copy_tags,
    ecs_arn,
    paginate,
    parse_reference,
)
from simulator.ecs.deployments import Deployment, DeploymentScheduler, in_progress
from simulator.ecs.taskdefs import TaskDefinition
from simulator.ecs.tasksets import update_refused

if TYPE_CHECKING:
    from simulator.clock import ScheduledCall
    from simulator.ecs.clusters import Cluster
    from simulator.ecs.tasks import Task
    from simulator.ecs.tasksets import TaskSet
    from simulator.service import CallContext

#: Events a service keeps (newest first), as DescribeServices shows them.
MAX_EVENTS = 100
#: Services per DescribeServices call.
MAX_DESCRIBE = 10
DEFAULT_DEPLOYMENT_CONFIGURATION: dict[str, Any] = {
    "deploymentCircuitBreaker": {"enable": False, "rollback": False},
    "maximumPercent": 200,
    "minimumHealthyPercent": 100,
}


@dataclass(eq=False)
class EcsServiceRecord:
    """One ECS service (named ``...Record`` to keep it apart from ``simulator.service``)."""

    name: str
    arn: str
    cluster: Cluster
    desired_count: int
    created_at: datetime
    created_by: str
    launch_type: str | None
    capacity_strategy: list[dict[str, Any]]
    platform_version: str | None
    network: dict[str, Any]
    deployment_configuration: dict[str, Any]
    tags: list[dict[str, str]] = field(default_factory=list)
    propagate_tags: str = "NONE"
    enable_ecs_managed_tags: bool = False
    enable_execute_command: bool = False
    status: str = "ACTIVE"
    deployments: list[Deployment] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    tasks: dict[str, Task] = field(default_factory=dict)
    last_completed: Deployment | None = None
    retry: ScheduledCall | None = None
    health_check_grace: int | None = None
    #: Every deployment the service has had, oldest first (its service revisions).
    history: list[Deployment] = field(default_factory=list)
    #: The deployment controller: ECS (rolling update), EXTERNAL or CODE_DEPLOY (task sets).
    controller: str = "ECS"
    task_sets: list[TaskSet] = field(default_factory=list)

    @property
    def primary(self) -> Deployment:
        """The PRIMARY (newest) deployment."""
        return self.deployments[0]

    def live(self, deployment: Deployment | None = None) -> list[Task]:
        """Tasks meant to run (desiredStatus RUNNING), of one deployment or all."""
        return [t for t in self.tasks.values() if t.desired_status == "RUNNING"
                and (deployment is None or t.deployment is deployment)]

    def not_stopped(self, deployment: Deployment) -> list[Task]:
        """A deployment's tasks that have not reached STOPPED yet."""
        return [t for t in self.tasks.values() if t.deployment is deployment and not t.stopped]

    def describe(self, include_tags: bool = False) -> dict[str, Any]:
        """The ``Service`` shape."""
        live = self.live()
        running = sum(1 for t in live if t.last_status == "RUNNING")
        by_dep: dict[int, list[Task]] = {}
        for t in self.tasks.values():
            by_dep.setdefault(id(t.deployment), []).append(t)
        primary = self.deployments[0] if self.deployments else None
        out: dict[str, Any] = {
            "serviceArn": self.arn,
            "serviceName": self.name,
            "clusterArn": self.cluster.arn,
            "loadBalancers": [],
            "serviceRegistries": [],
            "status": self.status,
            "desiredCount": self.desired_count,
            "runningCount": running,
            "pendingCount": len(live) - running,
        }
        if self.launch_type:
            out["launchType"] = self.launch_type
        if self.capacity_strategy:
            out["capacityProviderStrategy"] = copy.deepcopy(self.capacity_strategy)
        out["platformVersion"] = self.platform_version or "LATEST"
        if primary is not None:
            out["platformFamily"] = platforms.platform_family(primary.taskdef.os_family)
            out["taskDefinition"] = primary.taskdef.arn
        out["deploymentConfiguration"] = copy.deepcopy(self.deployment_configuration)
        out["deployments"] = [d.describe(by_dep.get(id(d), [])) for d in self.deployments]
        out["events"] = copy.deepcopy(self.events)
        out["createdAt"] = self.created_at
        out["placementConstraints"] = []
        out["placementStrategy"] = []
        out["networkConfiguration"] = copy.deepcopy(self.network)
        if self.health_check_grace is not None:
            out["healthCheckGracePeriodSeconds"] = self.health_check_grace
        if self.controller != "ECS":
            out["taskSets"] = [ts.describe(self) for ts in self.task_sets]
            primary_set = next((ts for ts in self.task_sets if ts.status == "PRIMARY"), None)
            if primary_set is not None:
                out["taskDefinition"] = primary_set.deployment.taskdef.arn
        out["schedulingStrategy"] = "REPLICA"
        out["deploymentController"] = {"type": self.controller}
        out["tags"] = copy.deepcopy(self.tags) if include_tags else []
        out["createdBy"] = self.created_by
        out["enableECSManagedTags"] = self.enable_ecs_managed_tags
        out["propagateTags"] = self.propagate_tags
        out["enableExecuteCommand"] = self.enable_execute_command
        return out


def _deployment_configuration(
    given: dict[str, Any] | None, base: dict[str, Any] | None = None
) -> dict[str, Any]:
    cfg = copy.deepcopy(base or DEFAULT_DEPLOYMENT_CONFIGURATION)
    for k, v in (given or {}).items():
        cfg[k] = copy.deepcopy(v)
    low, high = cfg.get("minimumHealthyPercent", 100), cfg.get("maximumPercent", 200)
    if not 0 <= low <= 100:
        raise errors.InvalidParameterException(
            f"minimumHealthyPercent must be between 0 and 100, got {low}."
        )
    if high < 100 or high > 200:
        raise errors.InvalidParameterException(
            f"maximumPercent must be between 100 and 200 for a REPLICA service, got {high}."
        )
    if high <= low:
        raise errors.InvalidParameterException(
            f"maximumPercent ({high}) must be greater than minimumHealthyPercent ({low}), or "
            "no rolling deployment can make progress."
        )
    return cfg


class ServiceOps(DeploymentScheduler):
    """The service operations of ``EcsService``, over the deployment scheduler they drive."""

    # -- lookups ---------------------------------------------------------------------------
    def _service_ref(
        self, ctx: CallContext, cluster: Cluster, ref: str
    ) -> tuple[str, EcsServiceRecord | None]:
        _, name = parse_reference(ref, "service")
        arn = ecs_arn(ctx, ctx.account, f"service/{cluster.name}/{name}", ctx.sim.partition)
        return arn, cluster.services.get(name)

    def _active_service(
        self, ctx: CallContext, cluster: Cluster, ref: str
    ) -> EcsServiceRecord:
        _, svc = self._service_ref(ctx, cluster, ref)
        if svc is None:
            raise errors.ServiceNotFoundException("Service not found.")
        if svc.status != "ACTIVE":
            # ECS's words: clients match "Service was not ACTIVE" in UpdateService's error
            # (https://github.com/remind101/empire/tree/master/pkg/cloudformation, ECS service
            # deletion); the status goes in the explanation.
            advice = ("a deleted service can be created again with CreateService"
                      if svc.status == "INACTIVE" else "it is being deleted: wait until it is "
                      "INACTIVE, then create it again with CreateService")
            raise errors.ServiceNotActiveException(
                "Service was not ACTIVE.",
                explanation=f"service {svc.name} is {svc.status}; {advice}")
        return svc

    def _launch_settings(
        self, cluster: Cluster, params: dict[str, Any]
    ) -> tuple[str | None, list[dict[str, Any]]]:
        launch_type, strategy = launch_choice(cluster, params)
        if launch_type and launch_type != "FARGATE":
            # ECS's words when nothing can host an EC2 task (a real answer quoted in
            # https://github.com/aws/amazon-ecs-cli/issues/1122); AWS itself would accept the
            # service and report the same reason in its events, the simulator refuses it.
            raise errors.InvalidParameterException(
                "No Container Instances were found in your cluster.",
                explanation=f"The simulator models Fargate only: launchType {launch_type} has "
                "no container instances to place tasks on. Use launchType FARGATE or a FARGATE "
                "capacity provider.",
            )
        return launch_type, strategy

    def _event(self, svc: EcsServiceRecord, message: str) -> None:
        svc.events.insert(0, {
            "id": str(uuid.UUID(int=self.sim.rng.getrandbits(128), version=4)),
            "createdAt": self.sim.clock.now(),
            "message": f"(service {svc.name}) {message}",
        })
        del svc.events[MAX_EVENTS:]

    # -- operations ------------------------------------------------------------------------
    def CreateService(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Create a REPLICA service on Fargate; its first deployment starts at once."""
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        name = params["serviceName"]
        check_name(name, "Service")
        arn = ecs_arn(ctx, ctx.account, f"service/{cluster.name}/{name}", ctx.sim.partition)
        td_ref = params.get("taskDefinition")
        td = self.find_taskdef(ctx, td_ref) if td_ref else None  # type: ignore[attr-defined]
        context = {"ecs:cluster": cluster.arn, "ecs:task-definition": td.arn if td else None}
        authorize_call(ctx, arn, context)
        controller = (params.get("deploymentController") or {}).get("type", "ECS")
        if params.get("schedulingStrategy", "REPLICA") != "REPLICA":
            raise errors.InvalidParameterException(
                "Fargate does not support the DAEMON scheduling strategy."
            )
        if controller == "EXTERNAL":
            return self._create_task_set_service(ctx, cluster, name, arn, params)
        if not td_ref:
            raise errors.InvalidParameterException(
                "A task definition must be specified for a service that uses the ECS "
                "deployment controller."
            )
        if td is None:
            # AWS's words (https://github.com/Cloud-CV/EvalAI/issues/2419).
            raise errors.ClientException("TaskDefinition not found.",
                                         explanation=f"No task definition {td_ref} is registered.")
        if td.status != "ACTIVE":
            # AWS's words and code (a real answer quoted in
            # https://github.com/DefangLabs/defang/pull/775).
            raise errors.InvalidParameterException(
                "TaskDefinition is inactive", explanation=td.why_inactive)
        if "desiredCount" not in params:
            raise errors.InvalidParameterException(
                "desiredCount is required for a service with the REPLICA scheduling strategy."
            )
        desired = params["desiredCount"]
        if desired < 0:
            raise errors.InvalidParameterException(
                f"desiredCount must be 0 or more, got {desired}."
            )
        existing = cluster.services.get(name)
        if existing is not None and existing.status != "INACTIVE":
            raise errors.InvalidParameterException("Creation of service was not idempotent.")
        launch_type, strategy = self._launch_settings(cluster, params)
        cfg = _deployment_configuration(params.get("deploymentConfiguration"))
        network = copy.deepcopy(params.get("networkConfiguration") or {})
        if controller == "CODE_DEPLOY":
            return self._create_task_set_service(ctx, cluster, name, arn, params)
        deployment = self._new_deployment(
            cluster, td, desired, params.get("platformVersion"), network, launch_type, strategy,
            volume_configs=params.get("volumeConfigurations"), ctx=ctx,
        )
        svc = EcsServiceRecord(
            name=name, arn=arn, cluster=cluster, desired_count=desired, created_at=ctx.now,
            created_by=ctx.caller.arn, launch_type=launch_type, capacity_strategy=strategy,
            platform_version=params.get("platformVersion"), network=network,
            deployment_configuration=cfg, tags=copy_tags(params.get("tags")),
            propagate_tags=params.get("propagateTags", "NONE"),
            enable_ecs_managed_tags=bool(params.get("enableECSManagedTags")),
            enable_execute_command=bool(params.get("enableExecuteCommand")),
            deployments=[deployment],
            health_check_grace=params.get("healthCheckGracePeriodSeconds"),
        )
        cluster.services[name] = svc
        self.register_revision(svc, deployment)  # type: ignore[attr-defined]
        # The answer is the service before the scheduler acts: AWS's scheduler starts the
        # tasks after CreateService returns, so its answer has pendingCount 0 and no events
        # (awscli/examples/ecs/create-service.rst); DescribeServices shows them at once here.
        answer = {"service": svc.describe(include_tags=True)}
        self.reconcile(svc)
        return answer

    def _create_task_set_service(
        self, ctx: CallContext, cluster: Cluster, name: str, arn: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        """CreateService with the EXTERNAL or CODE_DEPLOY controller: tasks come from task
        sets (CODE_DEPLOY: one PRIMARY task set of the given task definition at once)."""
        controller = params["deploymentController"]["type"]
        if controller == "CODE_DEPLOY" and not params.get("taskDefinition"):
            raise errors.InvalidParameterException(
                "A task definition must be specified for a service that uses the CODE_DEPLOY "
                "deployment controller."
            )
        desired = params.get("desiredCount", 0)
        if desired < 0:
            raise errors.InvalidParameterException(
                f"desiredCount must be 0 or more, got {desired}."
            )
        existing = cluster.services.get(name)
        if existing is not None and existing.status != "INACTIVE":
            raise errors.InvalidParameterException("Creation of service was not idempotent.")
        launch_type, strategy = self._launch_settings(cluster, params)
        svc = EcsServiceRecord(
            name=name, arn=arn, cluster=cluster, desired_count=desired, created_at=ctx.now,
            created_by=ctx.caller.arn, launch_type=launch_type, capacity_strategy=strategy,
            platform_version=params.get("platformVersion"),
            network=copy.deepcopy(params.get("networkConfiguration") or {}),
            deployment_configuration=_deployment_configuration(
                params.get("deploymentConfiguration")),
            tags=copy_tags(params.get("tags")), controller=controller,
            propagate_tags=params.get("propagateTags", "NONE"),
            enable_ecs_managed_tags=bool(params.get("enableECSManagedTags")),
            enable_execute_command=bool(params.get("enableExecuteCommand")),
            health_check_grace=params.get("healthCheckGracePeriodSeconds"),
        )
        if controller == "CODE_DEPLOY":
            first = self.new_task_set(ctx, svc, params)  # type: ignore[attr-defined]
            first.status = "PRIMARY"
            svc.task_sets.append(first)
        cluster.services[name] = svc
        self.reconcile(svc)
        return {"service": svc.describe(include_tags=True)}

    def _update_task_set_service(
        self, svc: EcsServiceRecord, params: dict[str, Any]
    ) -> dict[str, Any]:
        """UpdateService of a task-set service: the desired count and service-level settings."""
        for key, what in (("taskDefinition", "task definition"),
                          ("networkConfiguration", "network configuration"),
                          ("platformVersion", "platform version"),
                          ("launchType", "launch type"),
                          ("capacityProviderStrategy", "capacity provider strategy"),
                          ("volumeConfigurations", "volume configurations"),
                          ("forceNewDeployment", "deployments")):
            if params.get(key):
                raise update_refused(svc.controller, what)
        desired = params.get("desiredCount", svc.desired_count)
        if desired < 0:
            raise errors.InvalidParameterException(
                f"desiredCount must be 0 or more, got {desired}."
            )
        svc.deployment_configuration = _deployment_configuration(
            params.get("deploymentConfiguration"), svc.deployment_configuration
        )
        svc.desired_count = desired
        self.reconcile(svc)
        return {"service": svc.describe(include_tags=True)}

    def UpdateService(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Change desired count, task definition, platform or network; or force a deployment."""
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        arn, found = self._service_ref(ctx, cluster, params["service"])
        authorize_call(ctx, found.arn if found else arn, {"ecs:cluster": cluster.arn})
        svc = self._active_service(ctx, cluster, params["service"])
        if svc.controller != "ECS":
            return self._update_task_set_service(svc, params)
        desired = params.get("desiredCount", svc.desired_count)
        if desired < 0:
            raise errors.InvalidParameterException(
                f"desiredCount must be 0 or more, got {desired}."
            )
        primary = svc.primary
        td = primary.taskdef
        if params.get("taskDefinition"):
            td = self.taskdef_for_update(ctx, params["taskDefinition"])
        cfg = _deployment_configuration(
            params.get("deploymentConfiguration"), svc.deployment_configuration
        )
        network = copy.deepcopy(params.get("networkConfiguration") or svc.network)
        launch_type, strategy = svc.launch_type, svc.capacity_strategy
        if "launchType" in params or "capacityProviderStrategy" in params:
            launch_type, strategy = self._launch_settings(cluster, params)
        platform = params.get("platformVersion", svc.platform_version)
        volume_configs = params.get("volumeConfigurations")
        if volume_configs is None:
            volume_configs = [v.describe() for v in primary.volumes]
        changed = (
            "volumeConfigurations" in params
            or td is not primary.taskdef
            or network != primary.network
            or platform != svc.platform_version
            or (launch_type, strategy) != (svc.launch_type, svc.capacity_strategy)
            or bool(params.get("forceNewDeployment"))
        )
        new = None
        if changed:
            new = self._new_deployment(
                cluster, td, desired, platform, network, launch_type, strategy,
                volume_configs=volume_configs,
                ctx=ctx if "volumeConfigurations" in params else None,
            )
        # Everything is checked: apply.
        svc.desired_count = desired
        svc.deployment_configuration = cfg
        svc.network = network
        svc.platform_version = platform
        svc.launch_type, svc.capacity_strategy = launch_type, strategy
        # The answer is the service before the scheduler acts, as for CreateService: the
        # service has its new desiredCount, but its deployments are as they were (a scale
        # from 1 to 2 answers with the PRIMARY deployment still at desiredCount 1, COMPLETED:
        # awscli/examples/ecs/update-service.rst), and a new deployment has no tasks asked
        # of it yet (desiredCount 0); the scheduler raises them straight after.
        if new is not None:
            new.desired_count = 0
            self._promote(svc, new)
            if svc.retry is not None:
                self.timers.cancel(svc.retry)
                svc.retry = None
            answer = {"service": svc.describe(include_tags=True)}
            new.desired_count = desired
        else:
            answer = {"service": svc.describe(include_tags=True)}
            primary.desired_count = desired
            primary.updated_at = ctx.now
            if desired != len(svc.live(primary)) and primary.rollout_state == "COMPLETED":
                primary.rollout_state = "IN_PROGRESS"
                primary.rollout_reason = in_progress(primary.id)
        self.reconcile(svc)
        return answer

    def taskdef_for_update(self, ctx: CallContext, ref: str) -> TaskDefinition:
        """The ACTIVE task definition ``ref`` names, or ClientException."""
        td = self.find_taskdef(ctx, ref)  # type: ignore[attr-defined]
        if td is None:
            raise errors.ClientException("TaskDefinition not found.")
        if td.status != "ACTIVE":
            raise errors.InvalidParameterException(
                "TaskDefinition is inactive", explanation=td.why_inactive)
        return td

    def DescribeServices(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Describe up to 10 services of one cluster, deployments and events included."""
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        refs = params["services"]
        if not refs:
            raise errors.InvalidParameterException("Services cannot be empty.")
        if len(refs) > MAX_DESCRIBE:
            # ECS's words, as the waiter services-stable users quote them ("service names
            # can have at most 10 items"; DescribeTasks' twin is "taskIds can have at most
            # 100 items.", https://github.com/gchq/sleeper/issues/555).
            raise errors.InvalidParameterException(
                f"service names can have at most {MAX_DESCRIBE} items.",
                explanation=f"DescribeServices takes at most {MAX_DESCRIBE} services, "
                f"got {len(refs)}",
            )
        include_tags = "TAGS" in (params.get("include") or ())
        found, failures = [], []
        for ref in refs:
            arn, svc = self._service_ref(ctx, cluster, ref)
            authorize_call(ctx, svc.arn if svc else arn, {"ecs:cluster": cluster.arn})
            if svc is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(svc.describe(include_tags))
        return {"services": found, "failures": failures}

    def ListServices(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """ARNs of a cluster's ACTIVE services (10 a page by default).

        DRAINING services are left out: "the service status moves from ACTIVE to DRAINING,
        and the service is no longer visible in the console or in the ListServices API
        operation" (DeleteService, ECS API reference).
        """
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        authorize_call(ctx, "*", {"ecs:cluster": cluster.arn})
        launch_type = params.get("launchType")
        strategy = params.get("schedulingStrategy")
        arns = [
            s.arn for s in cluster.services.values()
            if s.status == "ACTIVE"
            and (launch_type is None or s.launch_type == launch_type)
            and strategy in (None, "REPLICA")
        ]
        return paginate("ListServices", arns, params, default_limit=10)

    def DeleteService(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Drain a service (refused while scaled above 0 unless ``force``)."""
        cluster = self.cluster(ctx, params.get("cluster"))  # type: ignore[attr-defined]
        arn, found = self._service_ref(ctx, cluster, params["service"])
        authorize_call(ctx, found.arn if found else arn, {"ecs:cluster": cluster.arn})
        svc = self._active_service(ctx, cluster, params["service"])
        if svc.desired_count > 0 and not params.get("force"):
            raise errors.InvalidParameterException(
                "The service cannot be stopped while it is scaled above 0."
            )
        svc.desired_count = 0
        svc.status = "DRAINING"
        self.timers.cancel(svc.retry)
        svc.retry = None
        for d in svc.deployments:
            d.desired_count = 0
        self.reconcile(svc)
        return {"service": svc.describe(include_tags=True)}
