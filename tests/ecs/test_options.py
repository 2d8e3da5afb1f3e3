"""The named options where AWS's sources disagree or are silent: both readings, tested."""

from __future__ import annotations

import dataclasses
import json

import pytest

from simulator import errors
from simulator.ecs.options import EcsOptions
from simulator.iam.seed import seed_allow_approved_keys, seed_deny_without_key
from tests.ecs.helpers import CLUSTER, NET, OPERATOR, OPERATOR_NAME, TRUST, make_key, register


@pytest.fixture
def operator(sim):
    """The seed's operator role (approved keys only, Null-condition Deny) and its cluster."""
    key = make_key(sim)
    iam = sim.client("iam")
    iam.create_role(RoleName=OPERATOR_NAME, AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName=OPERATOR_NAME, PolicyName="approved",
                        PolicyDocument=json.dumps(seed_allow_approved_keys([key])))
    iam.put_role_policy(RoleName=OPERATOR_NAME, PolicyName="deny",
                        PolicyDocument=json.dumps(seed_deny_without_key()))
    ecs = sim.client("ecs", principal=OPERATOR)
    ecs.create_cluster(clusterName=CLUSTER, configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": key}})
    return ecs


SETTINGS_ONLY = {"cluster": CLUSTER,
                 "settings": [{"name": "containerInsights", "value": "enabled"}]}


def test_request_reading_denies_a_settings_only_update(sim, operator):
    assert sim.ecs.options.update_cluster_kms_condition == "request"
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        operator.update_cluster(**SETTINGS_ONLY)


def test_cluster_reading_lets_a_settings_only_update_through(sim, operator):
    sim.ecs.options = EcsOptions(update_cluster_kms_condition="cluster")
    out = operator.update_cluster(**SETTINGS_ONLY)["cluster"]
    assert {"name": "containerInsights", "value": "enabled"} in out["settings"]


def test_cluster_reading_still_denies_a_cluster_without_a_key(sim, operator):
    sim.ecs.options = EcsOptions(update_cluster_kms_condition="cluster")
    sim.client("ecs").create_cluster(clusterName="bare")
    with pytest.raises(errors.AccessDeniedException):
        operator.update_cluster(cluster="bare", settings=SETTINGS_ONLY["settings"])


def replacement_key(sim, reading: str) -> tuple[str, str, str]:
    """(first key, second key, the key of a replacement task in the old deployment)."""
    sim.ecs.options = dataclasses.replace(sim.ecs.options, replacement_task_key=reading)
    first, second = make_key(sim), make_key(sim)
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER, configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": first}})
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=register(sim),
                       desiredCount=1, launchType="FARGATE", networkConfiguration=NET)
    sim.fargate.settle()
    ecs.update_cluster(cluster=CLUSTER, configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": second}})
    [old] = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    ecs.stop_task(cluster=CLUSTER, task=old)
    sim.fargate.settle()
    [new] = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    assert new != old
    [task] = ecs.describe_tasks(cluster=CLUSTER, tasks=[new])["tasks"]
    assert task["lastStatus"] == "RUNNING"
    [svc] = ecs.describe_services(cluster=CLUSTER, services=["web"])["services"]
    assert len(svc["deployments"]) == 1  # still the old deployment
    assert svc["deployments"][0]["fargateEphemeralStorage"]["kmsKeyId"] == first
    return first, second, task["fargateEphemeralStorage"]["kmsKeyId"]


def test_deployment_reading_keeps_the_deployments_key(sim):
    first, _, used = replacement_key(sim, "deployment")
    assert used == first


def test_cluster_reading_takes_the_clusters_current_key(sim):
    _, second, used = replacement_key(sim, "cluster")
    assert used == second


def test_an_unknown_reading_is_refused():
    with pytest.raises(ValueError, match="replacement_task_key"):
        EcsOptions(replacement_task_key="newest")
