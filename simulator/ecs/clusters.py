"""Clusters: CreateCluster, UpdateCluster, DescribeClusters, ListClusters, DeleteCluster.

CreateCluster and UpdateCluster evaluate the caller's identity policies with the condition
key ``ecs:fargate-ephemeral-storage-kms-key`` (present, as given, when the request names a
Fargate ephemeral storage key; absent otherwise), then check every managed-storage key with
``kms:DescribeKey`` as the caller (``simulator.ecs.keycheck``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.ecs import keycheck
from simulator.ecs.common import (
    DEFAULT_CLUSTER,
    authorize_call,
    check_name,
    copy_tags,
    ecs_arn,
    paginate,
    parse_reference,
)

if TYPE_CHECKING:
    from simulator.ecs.ecs_services import EcsServiceRecord
    from simulator.ecs.tasks import Task
    from simulator.service import CallContext

#: The IAM condition key ECS sets on CreateCluster/UpdateCluster.
KMS_CONDITION_KEY = "ecs:fargate-ephemeral-storage-kms-key"
FARGATE_PROVIDERS = ("FARGATE", "FARGATE_SPOT")
PENDING_STATES = frozenset({"PROVISIONING", "PENDING", "ACTIVATING"})


@dataclass(eq=False)
class Cluster:
    """One ECS cluster and what runs in it."""

    account: str
    name: str
    arn: str
    created_at: datetime
    status: str = "ACTIVE"
    configuration: dict[str, Any] = field(default_factory=dict)
    settings: list[dict[str, str]] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    capacity_providers: list[str] = field(default_factory=list)
    default_strategy: list[dict[str, Any]] = field(default_factory=list)
    service_connect: dict[str, Any] | None = None
    tasks: dict[str, Task] = field(default_factory=dict)
    services: dict[str, EcsServiceRecord] = field(default_factory=dict)

    @property
    def fargate_key(self) -> str | None:
        """The cluster's Fargate ephemeral storage key (its key ARN)."""
        msc = self.configuration.get("managedStorageConfiguration") or {}
        return msc.get(keycheck.FARGATE_FIELD)

    def counts(self) -> tuple[int, int, int, int]:
        """(running tasks, pending tasks, active services, draining services)."""
        running = pending = 0
        for task in self.tasks.values():
            if task.last_status == "RUNNING":
                running += 1
            elif task.last_status in PENDING_STATES:
                pending += 1
        active = sum(1 for s in self.services.values() if s.status == "ACTIVE")
        draining = sum(1 for s in self.services.values() if s.status == "DRAINING")
        return running, pending, active, draining

    def describe(self, include: set[str] | None = None, full: bool = False) -> dict[str, Any]:
        """The ``Cluster`` shape; ``full`` adds every optional part (Create/Update/Delete)."""
        include = set(include or ())
        if full:
            include |= {"CONFIGURATIONS", "SETTINGS", "TAGS"}
        running, pending, active, draining = self.counts()
        out: dict[str, Any] = {
            "clusterArn": self.arn,
            "clusterName": self.name,
        }
        if "CONFIGURATIONS" in include and self.configuration:
            out["configuration"] = copy.deepcopy(self.configuration)
        out.update(
            status=self.status,
            registeredContainerInstancesCount=0,
            runningTasksCount=running,
            pendingTasksCount=pending,
            activeServicesCount=active,
            statistics=[],
        )
        if "STATISTICS" in include:
            out["statistics"] = [
                {"name": "runningEC2TasksCount", "value": "0"},
                {"name": "runningFargateTasksCount", "value": str(running)},
                {"name": "pendingEC2TasksCount", "value": "0"},
                {"name": "pendingFargateTasksCount", "value": str(pending)},
                {"name": "activeEC2ServiceCount", "value": "0"},
                {"name": "activeFargateServiceCount", "value": str(active)},
                {"name": "drainingEC2ServiceCount", "value": "0"},
                {"name": "drainingFargateServiceCount", "value": str(draining)},
            ]
        out["tags"] = copy.deepcopy(self.tags) if "TAGS" in include else []
        # Like tags, settings are listed empty unless asked for (the CLI's describe-clusters
        # example with --include ATTACHMENTS shows "tags": [] and "settings": []).
        out["settings"] = copy.deepcopy(self.settings) if "SETTINGS" in include else []
        out["capacityProviders"] = list(self.capacity_providers)
        out["defaultCapacityProviderStrategy"] = copy.deepcopy(self.default_strategy)
        if "ATTACHMENTS" in include:
            out["attachments"] = []
        if self.service_connect:
            out["serviceConnectDefaults"] = dict(self.service_connect)
        return out


def launch_choice(
    cluster: Cluster, params: dict[str, Any]
) -> tuple[str | None, list[dict[str, Any]]]:
    """RunTask's and CreateService's launch type or capacity provider strategy, checked.

    Neither given: the cluster's default strategy, else the EC2 launch type (as AWS does).
    """
    launch_type = params.get("launchType")
    strategy = params.get("capacityProviderStrategy")
    if launch_type and strategy:
        raise errors.InvalidParameterException(
            "Specifying both a launch type and capacity provider strategy is not supported."
        )
    if not launch_type and not strategy:
        strategy = cluster.default_strategy
        if not strategy:
            launch_type = "EC2"
    for item in strategy or []:
        if item["capacityProvider"] not in cluster.capacity_providers:
            raise _not_associated(item["capacityProvider"], cluster.name)
    return launch_type, list(strategy or [])


def _not_associated(provider: str, cluster: str | None) -> errors.ClientError:
    """A strategy naming a capacity provider the cluster lacks, in AWS's words (as quoted in
    https://github.com/dask/dask-cloudprovider/issues/328)."""
    where = f"cluster {cluster}" if cluster else "the cluster's capacityProviders"
    return errors.InvalidParameterException(
        "The specified capacity provider strategy cannot contain a capacity provider that is "
        "not associated with the cluster. Associate the capacity provider with the cluster or "
        "specify a valid capacity provider and try again.",
        explanation=f"{provider} is not among the capacity providers of {where}.",
    )


def _check_settings(settings: list[dict[str, str]] | None) -> list[dict[str, str]]:
    out = []
    for s in settings or []:
        value = s.get("value", "")
        if "name" not in s:
            raise errors.InvalidParameterException(
                "A cluster setting needs a name (the only one is containerInsights)."
            )
        if s.get("name") == "containerInsights" and value not in ("enabled", "disabled",
                                                                  "enhanced"):
            raise errors.InvalidParameterException(
                f"Cluster setting containerInsights must be 'enabled', 'enhanced' or "
                f"'disabled', not '{value}'."
            )
        out.append({"name": s["name"], "value": value})
    return out


def _check_capacity(
    providers: list[str] | None, strategy: list[dict[str, Any]] | None
) -> tuple[list[str], list[dict[str, Any]]]:
    providers = list(providers or [])
    for name in providers:
        if name not in FARGATE_PROVIDERS:
            # AWS's words, as quoted in
            # https://github.com/terraform-aws-modules/terraform-aws-ecs/issues/53
            raise errors.InvalidParameterException(
                "The specified capacity provider was not found. Specify a valid capacity "
                "provider and try again.",
                explanation=f"There is no capacity provider {name}: the simulator models the "
                "Fargate capacity providers FARGATE and FARGATE_SPOT.",
            )
    out = []
    for item in strategy or []:
        if item["capacityProvider"] not in providers:
            raise _not_associated(item["capacityProvider"], None)
        out.append({"capacityProvider": item["capacityProvider"],
                    "weight": item.get("weight", 0), "base": item.get("base", 0)})
    return providers, out


def _checked_configuration(
    ctx: CallContext, configuration: dict[str, Any] | None
) -> dict[str, Any]:
    """The configuration with every managed-storage key checked and named by its key ARN.

    ECS accepts a key ID or key ARN and shows the key ARN afterwards (users report that a
    cluster created with a key ID describes it by ARN: CloudFormation drift and Terraform
    plans flag the difference).
    """
    out = copy.deepcopy(configuration or {})
    for fld, key_id in keycheck.requested_keys(out).items():
        meta = keycheck.check_key(ctx, key_id, fld)
        out["managedStorageConfiguration"][fld] = meta.get("Arn") or key_id
    return out


def _merge_configuration(
    current: dict[str, Any], update: dict[str, Any] | None
) -> dict[str, Any]:
    """UpdateCluster: each given part of ``configuration`` replaces that part wholesale."""
    merged = copy.deepcopy(current)
    for part, value in (update or {}).items():
        if value is None:
            continue
        if value == {}:
            merged.pop(part, None)
        else:
            merged[part] = copy.deepcopy(value)
    return merged


class ClusterOps:
    """The cluster operations of ``EcsService``."""

    clusters: dict[tuple[str, str], Cluster]

    # -- lookups ---------------------------------------------------------------------------
    def find_cluster(self, ctx: CallContext, ref: str | None) -> Cluster | None:
        """The caller's cluster named or ARN'd by ``ref`` (default: ``default``), or None."""
        account, name = parse_reference(ref or DEFAULT_CLUSTER, "cluster")
        return self.clusters.get((account or ctx.account, name))

    def cluster(self, ctx: CallContext, ref: str | None) -> Cluster:
        """The caller's ACTIVE cluster, or ClusterNotFoundException."""
        found = self.find_cluster(ctx, ref)
        if found is None or found.status != "ACTIVE":
            raise errors.ClusterNotFoundException("Cluster not found.")
        return found

    def cluster_arn(self, ctx: CallContext, name: str) -> str:
        """The ARN of the caller's cluster ``name``."""
        return ecs_arn(ctx, ctx.account, f"cluster/{name}", ctx.sim.partition)

    # -- operations ------------------------------------------------------------------------
    def CreateCluster(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Create a cluster (idempotent for identical arguments)."""
        name = params.get("clusterName") or DEFAULT_CLUSTER
        check_name(name, "Cluster")
        arn = self.cluster_arn(ctx, name)
        configuration = params.get("configuration") or {}
        keys = keycheck.requested_keys(configuration)
        authorize_call(ctx, arn, {KMS_CONDITION_KEY: keys.get(keycheck.FARGATE_FIELD)})
        settings = _check_settings(params.get("settings"))
        providers, strategy = _check_capacity(
            params.get("capacityProviders"), params.get("defaultCapacityProviderStrategy")
        )
        tags = copy_tags(params.get("tags"))
        configuration = _checked_configuration(ctx, configuration)
        existing = self.clusters.get((ctx.account, name))
        candidate = Cluster(
            account=ctx.account, name=name, arn=arn, created_at=ctx.now,
            configuration=copy.deepcopy(configuration), settings=settings, tags=tags,
            capacity_providers=providers, default_strategy=strategy,
            service_connect=params.get("serviceConnectDefaults"),
        )
        if existing is not None and existing.status == "ACTIVE":
            same = (existing.configuration, existing.settings, existing.capacity_providers,
                    existing.default_strategy) == (candidate.configuration, candidate.settings,
                                                   candidate.capacity_providers,
                                                   candidate.default_strategy)
            if not same:
                # AWS's words, as quoted in https://github.com/hashicorp/terraform/issues/24615
                raise errors.InvalidParameterException(
                    "Arguments on this idempotent request are inconsistent with arguments used "
                    "in previous request(s).",
                    explanation=f"Cluster {name} exists with another configuration, settings "
                    "or capacity providers; use UpdateCluster to change them.",
                )
            return {"cluster": existing.describe(full=True)}
        self.clusters[(ctx.account, name)] = candidate
        return {"cluster": candidate.describe(full=True)}

    def UpdateCluster(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Change a cluster's settings or configuration (a new key reaches new deployments)."""
        found = self.find_cluster(ctx, params["cluster"])
        _, name = parse_reference(params["cluster"], "cluster")
        arn = found.arn if found else self.cluster_arn(ctx, name)
        keys = keycheck.requested_keys(params.get("configuration"))
        condition = keys.get(keycheck.FARGATE_FIELD)
        if (condition is None and found is not None
                and self.options.update_cluster_kms_condition == "cluster"):  # type: ignore[attr-defined]
            condition = found.fargate_key
        authorize_call(ctx, arn, {KMS_CONDITION_KEY: condition})
        cluster = self.cluster(ctx, params["cluster"])
        settings = _check_settings(params.get("settings")) if "settings" in params else None
        configuration = _checked_configuration(ctx, params.get("configuration"))
        if "configuration" in params:
            cluster.configuration = _merge_configuration(cluster.configuration, configuration)
        if settings is not None:
            by_name = {s["name"]: s for s in cluster.settings}
            by_name.update({s["name"]: s for s in settings})
            cluster.settings = list(by_name.values())
        if params.get("serviceConnectDefaults") is not None:
            cluster.service_connect = dict(params["serviceConnectDefaults"])
        return {"cluster": cluster.describe(full=True)}

    def UpdateClusterSettings(self, ctx: CallContext, params: dict[str, Any]
                              ) -> dict[str, Any]:
        """Change a cluster's settings (containerInsights), each given one replacing its
        namesake; the configuration and its keys are untouched.
        https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateClusterSettings.html"""
        found = self.find_cluster(ctx, params["cluster"])
        _, name = parse_reference(params["cluster"], "cluster")
        authorize_call(ctx, found.arn if found else self.cluster_arn(ctx, name))
        cluster = self.cluster(ctx, params["cluster"])
        by_name = {s["name"]: s for s in cluster.settings}
        by_name.update({s["name"]: s for s in _check_settings(params["settings"])})
        cluster.settings = list(by_name.values())
        return {"cluster": cluster.describe(full=True)}

    def DescribeClusters(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Describe clusters; ``include`` adds configuration, settings, statistics, tags."""
        refs = params.get("clusters") or [DEFAULT_CLUSTER]
        if len(refs) > 100:
            raise errors.InvalidParameterException(
                f"DescribeClusters takes at most 100 clusters, got {len(refs)}."
            )
        include = set(params.get("include") or ())
        found, failures = [], []
        for ref in refs:
            account, name = parse_reference(ref, "cluster")
            arn = ecs_arn(ctx, account or ctx.account, f"cluster/{name}", ctx.sim.partition)
            authorize_call(ctx, arn)
            cluster = self.clusters.get((account or ctx.account, name))
            if cluster is None:
                failures.append({"arn": arn, "reason": "MISSING"})
            else:
                found.append(cluster.describe(include))
        return {"clusters": found, "failures": failures}

    def PutClusterCapacityProviders(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """Replace the cluster's capacity providers and default strategy (both required:
        the list given is the whole new list, an empty one removes them all).
        https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_PutClusterCapacityProviders.html
        """
        found = self.find_cluster(ctx, params["cluster"])
        _, name = parse_reference(params["cluster"], "cluster")
        authorize_call(ctx, found.arn if found else self.cluster_arn(ctx, name))
        cluster = self.cluster(ctx, params["cluster"])
        providers, strategy = _check_capacity(
            params["capacityProviders"], params["defaultCapacityProviderStrategy"])
        in_use = {item["capacityProvider"] for svc in cluster.services.values()
                  if svc.status in ("ACTIVE", "DRAINING") for item in svc.capacity_strategy}
        in_use |= {t.capacity_provider for t in cluster.tasks.values()
                   if t.capacity_provider and t.last_status != "STOPPED"}
        removed = sorted(in_use - set(providers))
        if removed:
            # ECS's words, as CloudFormation relays them
            # (https://github.com/pahud/cdk-fargate-patterns/issues/71).
            raise errors.error_class("ResourceInUseException")(
                "The specified capacity provider is in use and cannot be removed.",
                explanation=f"{', '.join(removed)} is used by a service or a task that is "
                "not stopped in this cluster")
        cluster.capacity_providers, cluster.default_strategy = providers, strategy
        return {"cluster": cluster.describe(full=True)}

    def DescribeCapacityProviders(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """The capacity providers named (by name or ARN; others are MISSING failures), or
        all of the account's, or those of ``cluster``: Fargate's FARGATE and FARGATE_SPOT,
        which every account has ("The FARGATE and FARGATE_SPOT capacity providers are
        reserved and are automatically available to all accounts",
        https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-capacity-providers.html);
        paged by maxResults.
        https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeCapacityProviders.html
        """
        authorize_call(ctx)
        # the model's limits: "Up to 100 capacity providers can be described in an action";
        # maxResults "can be between 1 and 10" (the words are the simulator's, as for the
        # other listings' maxResults)
        limit = params.get("maxResults")
        if limit is not None and not 1 <= limit <= 10:
            raise errors.InvalidParameterException(
                f"maxResults must be between 1 and 10, got {limit}.")
        if len(params.get("capacityProviders") or ()) > 100:
            raise errors.InvalidParameterException(
                "Up to 100 capacity providers can be described in an action.",
                explanation=f"the request names {len(params['capacityProviders'])}")
        available = list(FARGATE_PROVIDERS)
        if params.get("cluster"):
            available = [p for p in available
                         if p in self.cluster(ctx, params["cluster"]).capacity_providers]
        failures: list[dict[str, str]] = []
        if params.get("capacityProviders"):
            wanted = []
            for ref in params["capacityProviders"]:
                name = ref.rpartition("capacity-provider/")[2] if ref.startswith("arn:") else ref
                if name in available and ref in (name, self._provider_arn(ctx, name)):
                    wanted.append(name)
                else:
                    failures.append({"arn": ref if ref.startswith("arn:")
                                     else self._provider_arn(ctx, ref), "reason": "MISSING"})
            available = list(dict.fromkeys(wanted))
        page = paginate("DescribeCapacityProviders", [
            {"capacityProviderArn": self._provider_arn(ctx, name), "name": name,
             "status": "ACTIVE", "type": name, "tags": []} for name in available], params)
        return {**page, "failures": failures}

    @staticmethod
    def _provider_arn(ctx: CallContext, name: str) -> str:
        return ecs_arn(ctx, ctx.account, f"capacity-provider/{name}", ctx.sim.partition)

    def ListClusters(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The ARNs of the caller's ACTIVE clusters, in creation order."""
        authorize_call(ctx)
        arns = [c.arn for (acct, _), c in self.clusters.items()
                if acct == ctx.account and c.status == "ACTIVE"]
        return paginate("ListClusters", arns, params)

    def DeleteCluster(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Mark a cluster INACTIVE; refused while services or tasks are active in it."""
        found = self.find_cluster(ctx, params["cluster"])
        _, name = parse_reference(params["cluster"], "cluster")
        authorize_call(ctx, found.arn if found else self.cluster_arn(ctx, name))
        cluster = self.cluster(ctx, params["cluster"])
        if any(s.status in ("ACTIVE", "DRAINING") for s in cluster.services.values()):
            raise errors.ClusterContainsServicesException(
                "The Cluster cannot be deleted while Services are active."
            )
        if any(t.last_status != "STOPPED" for t in cluster.tasks.values()):
            raise errors.ClusterContainsTasksException(
                "The Cluster cannot be deleted while Tasks are active."
            )
        cluster.status = "INACTIVE"
        return {"cluster": cluster.describe(full=True)}
