"""Helpers for the ECS, Fargate agent and seed tests: keys, roles, task definitions, runs."""

from __future__ import annotations

import json
from typing import Any

from simulator import Simulation
from simulator.iam.seed import seed_key_policy

ACCOUNT = "111122223333"
REGION = "us-west-2"
CLUSTER = "prod"
OPERATOR_NAME = "customer-chosen-role"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/{OPERATOR_NAME}"
NET = {
    "awsvpcConfiguration": {
        "subnets": ["subnet-0a1b2c3d4e5f60718"],
        "securityGroups": ["sg-0a1b2c3d4e5f60718"],
        "assignPublicIp": "DISABLED",
    }
}
CONTAINER = {"name": "app", "image": "public.ecr.aws/docker/library/busybox:latest",
             "essential": True, "command": ["sleep", "3600"]}
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                   "Action": "sts:AssumeRole"}],
})


def policy(*statements: dict[str, Any]) -> str:
    """A policy document of ``statements`` as JSON text."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: str | list[str], resource: str = "*", **condition: Any) -> dict[str, Any]:
    """An Allow statement (``condition`` as the Condition block when given)."""
    st: dict[str, Any] = {"Effect": "Allow", "Action": actions, "Resource": resource}
    if condition:
        st["Condition"] = condition
    return st


def make_role(sim: Simulation, name: str, *statements: dict[str, Any]) -> str:
    """Create a role with an inline policy of ``statements``; return its ARN."""
    iam = sim.client("iam")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=TRUST)
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="inline",
                            PolicyDocument=policy(*statements))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def make_key(sim: Simulation, cluster: str = CLUSTER, **create: Any) -> str:
    """A key with the seed's key policy for ``cluster``; return its ARN."""
    create.setdefault("Policy", json.dumps(seed_key_policy(ACCOUNT, cluster, OPERATOR_NAME)))
    return sim.client("kms").create_key(**create)["KeyMetadata"]["Arn"]


def make_cluster(sim: Simulation, name: str = CLUSTER, key: str | None = None,
                 **extra: Any) -> dict[str, Any]:
    """Create a cluster as the root (with ``key`` as its Fargate ephemeral storage key)."""
    if key is not None:
        extra["configuration"] = {
            "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": key}
        }
    return sim.client("ecs").create_cluster(clusterName=name, **extra)["cluster"]


def register(sim: Simulation, family: str = "app", cpu: str = "256", memory: str = "512",
             **extra: Any) -> str:
    """Register a Fargate task definition; return its ARN."""
    extra.setdefault("containerDefinitions", [dict(CONTAINER)])
    td = sim.client("ecs").register_task_definition(
        family=family, requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu=cpu, memory=memory, **extra,
    )
    return td["taskDefinition"]["taskDefinitionArn"]


def register_windows(sim: Simulation, family: str = "win",
                     os_family: str = "WINDOWS_SERVER_2022_CORE") -> str:
    """Register a Windows Fargate task definition; return its ARN."""
    return register(sim, family, "1024", "2048",
                    runtimePlatform={"operatingSystemFamily": os_family,
                                     "cpuArchitecture": "X86_64"})


def run(sim: Simulation, task_definition: str, cluster: str = CLUSTER, count: int = 1,
        settle: bool = True, **extra: Any) -> list[dict[str, Any]]:
    """RunTask on Fargate, settle the clock, and return the tasks as DescribeTasks shows them."""
    ecs = sim.client("ecs")
    extra.setdefault("networkConfiguration", NET)
    tasks = ecs.run_task(cluster=cluster, taskDefinition=task_definition,
                         launchType="FARGATE", count=count, **extra)["tasks"]
    if not settle:
        return tasks
    sim.fargate.settle()
    return describe(sim, [t["taskArn"] for t in tasks], cluster)


def describe(sim: Simulation, arns: list[str], cluster: str = CLUSTER) -> list[dict[str, Any]]:
    """DescribeTasks as the root."""
    return sim.client("ecs").describe_tasks(cluster=cluster, tasks=arns)["tasks"]


def kms_events(sim: Simulation, since: int = 0) -> list[tuple[str, str | None, str | None]]:
    """(eventName, userIdentity.invokedBy, errorCode) of KMS records after index ``since``."""
    return [
        (r["eventName"], r["userIdentity"].get("invokedBy"), r.get("errorCode"))
        for r in sim.audit_trail[since:]
        if r["eventSource"] == "kms.amazonaws.com"
    ]


def kms_names(sim: Simulation, since: int = 0) -> list[str]:
    """The KMS event names after index ``since``."""
    return [e[0] for e in kms_events(sim, since)]


#: The six calls Fargate makes for one task with a customer managed key (and its stop).
CMK_START = [
    "GenerateDataKeyWithoutPlaintext",
    "CreateGrant",
    "GenerateDataKeyWithoutPlaintext",
    "CreateGrant",
    "Decrypt",
]
