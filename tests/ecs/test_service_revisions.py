"""Service revisions and service deployments: one per deployment, each with its key."""

from __future__ import annotations

import pytest

from simulator import errors
from tests.ecs.helpers import CLUSTER, NET, make_cluster, make_key, register


@pytest.fixture
def two_deployments(sim):
    """A service deployed with key 1, then redeployed after the cluster moved to key 2."""
    first, second = make_key(sim), make_key(sim)
    make_cluster(sim, key=first)
    ecs = sim.client("ecs")
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=register(sim),
                       desiredCount=1, launchType="FARGATE", networkConfiguration=NET)
    sim.fargate.settle()
    ecs.update_cluster(cluster=CLUSTER, configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": second}})
    ecs.update_service(cluster=CLUSTER, service="web", forceNewDeployment=True)
    sim.fargate.settle()
    return ecs, first, second


def test_each_deployment_is_a_revision_with_its_key(two_deployments):
    ecs, first, second = two_deployments
    deps = ecs.list_service_deployments(cluster=CLUSTER, service="web")["serviceDeployments"]
    # newest first; a deployment that completed stays SUCCESSFUL after it is replaced
    assert [d["status"] for d in deps] == ["SUCCESSFUL", "SUCCESSFUL"]
    arns = [d["targetServiceRevisionArn"] for d in deps]
    assert all(":service-revision/prod/web/" in a for a in arns)
    revs = ecs.describe_service_revisions(serviceRevisionArns=arns)["serviceRevisions"]
    assert [r["fargateEphemeralStorage"]["kmsKeyId"] for r in revs] == [second, first]
    assert revs[0]["containerImages"][0]["containerName"] == "app"
    assert revs[0]["platformVersion"] == "1.4.0"


def test_describe_service_deployments_links_source_and_target(two_deployments):
    ecs, _, _ = two_deployments
    deps = ecs.list_service_deployments(cluster=CLUSTER, service="web")["serviceDeployments"]
    [new] = ecs.describe_service_deployments(
        serviceDeploymentArns=[deps[0]["serviceDeploymentArn"]])["serviceDeployments"]
    assert new["targetServiceRevision"]["arn"] == deps[0]["targetServiceRevisionArn"]
    assert [s["arn"] for s in new["sourceServiceRevisions"]] == [
        deps[1]["targetServiceRevisionArn"]]
    assert new["targetServiceRevision"]["runningTaskCount"] == 1
    assert "finishedAt" in new


def test_status_filter_and_unknown_arns(two_deployments):
    ecs, _, _ = two_deployments
    done = ecs.list_service_deployments(cluster=CLUSTER, service="web",
                                        status=["IN_PROGRESS"])["serviceDeployments"]
    assert done == []
    missing = "arn:aws:ecs:us-west-2:111122223333:service-revision/prod/web/1"
    out = ecs.describe_service_revisions(serviceRevisionArns=[missing])
    assert out == {"serviceRevisions": [], "failures": [{"arn": missing, "reason": "MISSING"}],
                   "ResponseMetadata": out["ResponseMetadata"]}
    with pytest.raises(errors.ServiceNotFoundException):
        ecs.list_service_deployments(cluster=CLUSTER, service="nope")


def test_a_deployment_replaced_before_it_completes_is_stopped(sim, two_deployments):
    ecs, _, _ = two_deployments
    ecs.update_service(cluster=CLUSTER, service="web", forceNewDeployment=True)
    ecs.update_service(cluster=CLUSTER, service="web", forceNewDeployment=True)
    deps = ecs.list_service_deployments(cluster=CLUSTER, service="web")["serviceDeployments"]
    assert [d["status"] for d in deps[:2]] == ["IN_PROGRESS", "STOPPED"]
    sim.fargate.settle()
    deps = ecs.list_service_deployments(cluster=CLUSTER, service="web")["serviceDeployments"]
    assert [d["status"] for d in deps] == ["SUCCESSFUL", "STOPPED", "SUCCESSFUL", "SUCCESSFUL"]


def test_a_rolled_back_deployment_says_so(sim):
    good, bad = make_key(sim), make_key(sim, cluster="elsewhere")  # bad: policy names another
    make_cluster(sim, key=good)
    ecs = sim.client("ecs")
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=register(sim),
                       desiredCount=1, launchType="FARGATE", networkConfiguration=NET,
                       deploymentConfiguration={"deploymentCircuitBreaker": {
                           "enable": True, "rollback": True}})
    sim.fargate.settle()
    ecs.update_cluster(cluster=CLUSTER, configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": bad}})
    ecs.update_service(cluster=CLUSTER, service="web", forceNewDeployment=True)
    sim.fargate.settle()
    deps = ecs.list_service_deployments(cluster=CLUSTER, service="web")["serviceDeployments"]
    assert [d["status"] for d in deps] == ["SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "SUCCESSFUL"]
    revs = ecs.describe_service_revisions(
        serviceRevisionArns=[d["targetServiceRevisionArn"] for d in deps])["serviceRevisions"]
    assert [r["fargateEphemeralStorage"]["kmsKeyId"] for r in revs] == [good, bad, good]
