"""The seed's story over boto3, in the steps end-to-end tests and benchmarks share."""

from __future__ import annotations

import json
from typing import Any

from simulator.iam.seed import seed_key_policy

ACCOUNT = "111122223333"


def seed_cluster(kms: Any, ecs: Any, cluster: str = "web") -> str:
    """A key with the seed's policy, a cluster whose ephemeral storage it encrypts, and the
    ``app`` task definition; the key's ARN."""
    arn = kms.create_key(Policy=json.dumps(seed_key_policy(ACCOUNT, cluster)))[
        "KeyMetadata"]["Arn"]
    ecs.create_cluster(clusterName=cluster, configuration={"managedStorageConfiguration": {
        "fargateEphemeralStorageKmsKeyId": arn}})
    ecs.register_task_definition(
        family="app", cpu="256", memory="512", networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        containerDefinitions=[{"name": "app", "image": "busybox", "essential": True}])
    return arn


def run_app_task(ecs: Any, cluster: str = "web") -> str:
    """RunTask of the ``app`` task definition on Fargate; the task's ARN."""
    return ecs.run_task(cluster=cluster, taskDefinition="app", launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {
                            "subnets": ["subnet-12345678"]}})["tasks"][0]["taskArn"]
