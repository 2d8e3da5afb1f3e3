"""ECS through the real AWS CLI (v1) against the endpoint: the seed's cluster, a Fargate task
definition, run-task, the waiters, stop-task, a service, tags and capacity providers, and the
error texts the CLI prints, compared with the CLI's own examples (awscli/examples/ecs/*.rst).

The clock runs 300 times faster than wall time, so a task is RUNNING by the time the next CLI
process has started and the waiters succeed on their first poll.
"""

from __future__ import annotations

import json

import pytest

from simulator.api import Authenticator, serve
from simulator.iam.seed import seed_key_policy
from tests.api.awscli_runner import AwsCli
from tests.api.conftest import ACCOUNT, OPERATOR_ROLE, client, make_sim

pytestmark = pytest.mark.slow
NET = ("awsvpcConfiguration={subnets=[subnet-12345678],securityGroups=[sg-12345678],"
       "assignPublicIp=ENABLED}")


@pytest.fixture
def fast_server():
    srv = serve(make_sim(), auth=Authenticator(), speed=300.0, make_sim=make_sim)
    yield srv
    srv.shutdown()
    srv.server_close()


def test_ecs_with_the_aws_cli(fast_server, tmp_path):
    ecs = AwsCli(fast_server.url, tmp_path, service="ecs")
    policy = json.dumps(seed_key_policy(ACCOUNT, "c1", OPERATOR_ROLE))
    key = client(fast_server, "kms").create_key(Policy=policy)["KeyMetadata"]["Arn"]
    cluster = ecs("create-cluster", "--cluster-name", "c1", "--configuration",
                  f"managedStorageConfiguration={{fargateEphemeralStorageKmsKeyId={key}}}")
    arn = cluster["cluster"]["clusterArn"]
    assert arn == f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/c1"
    assert cluster["cluster"]["configuration"] == {
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": key}}

    # put-cluster-capacity-providers, tag-resource: the examples' shapes ("no output").
    put = ecs("put-cluster-capacity-providers", "--cluster", "c1", "--capacity-providers",
              "FARGATE", "FARGATE_SPOT", "--default-capacity-provider-strategy",
              "capacityProvider=FARGATE,weight=1")
    assert put["cluster"]["defaultCapacityProviderStrategy"] == [
        {"capacityProvider": "FARGATE", "weight": 1, "base": 0}]
    assert ecs("tag-resource", "--resource-arn", arn, "--tags", "key=key1,value=value1",
               "key=key2,value=value2") == {}
    ecs("untag-resource", "--resource-arn", arn, "--tag-keys", "key2")
    assert ecs("list-tags-for-resource", "--resource-arn", arn) == {
        "tags": [{"key": "key1", "value": "value1"}]}

    assert ecs.fails(
        "register-task-definition", "--family", "web", "--requires-compatibilities", "FARGATE",
        "--network-mode", "awsvpc", "--cpu", "256", "--memory", "4096",
        "--container-definitions", '[{"name":"app","image":"nginx"}]').endswith(
        "(ClientException) when calling the RegisterTaskDefinition operation: No Fargate "
        "configuration exists for given values: 256 CPU, 4096 memory. See the Amazon ECS "
        "documentation for the valid values.")
    ecs("register-task-definition", "--family", "web", "--requires-compatibilities", "FARGATE",
        "--network-mode", "awsvpc", "--cpu", "256", "--memory", "512", "--ephemeral-storage",
        "sizeInGiB=30", "--container-definitions", '[{"name":"app","image":"nginx"}]')

    assert ecs.fails("run-task", "--cluster", "c1", "--task-definition", "web",
                     "--launch-type", "FARGATE").endswith(
        "(InvalidParameterException) when calling the RunTask operation: Network "
        "Configuration must be provided when networkMode 'awsvpc' is specified.")
    ran = ecs("run-task", "--cluster", "c1", "--task-definition", "web", "--launch-type",
              "FARGATE", "--network-configuration", NET, "--count", "3", "--started-by", "me")
    arns = [t["taskArn"] for t in ran["tasks"]]
    assert len(arns) == 3 and ran["failures"] == []

    # list-tasks through the CLI's paginator: pages of one, at most two items.
    first = ecs("list-tasks", "--cluster", "c1", "--page-size", "1", "--max-items", "2")
    assert len(first["taskArns"]) == 2 and "NextToken" in first
    rest = ecs("list-tasks", "--cluster", "c1", "--starting-token", first["NextToken"])
    assert sorted(first["taskArns"] + rest["taskArns"]) == sorted(arns)

    ecs("wait", "tasks-running", "--cluster", "c1", "--tasks", *arns)
    task = ecs("describe-tasks", "--cluster", "c1", "--tasks", arns[0])["tasks"][0]
    assert (task["lastStatus"], task["desiredStatus"]) == ("RUNNING", "RUNNING")
    assert task["fargateEphemeralStorage"] == {"sizeInGiB": 30, "kmsKeyId": key}
    assert task["ephemeralStorage"] == {"sizeInGiB": 30}
    assert task["attachments"][0]["type"] == "ElasticNetworkInterface"
    assert task["platformVersion"] == "1.4.0"

    assert ecs.fails("delete-cluster", "--cluster", "c1").endswith(
        "(ClusterContainsTasksException) when calling the DeleteCluster operation: The Cluster "
        "cannot be deleted while Tasks are active.")
    stopped = ecs("stop-task", "--cluster", "c1", "--task", arns[0], "--reason", "done")
    assert stopped["task"]["desiredStatus"] == "STOPPED"
    ecs("wait", "tasks-stopped", "--cluster", "c1", "--tasks", arns[0])
    task = ecs("describe-tasks", "--cluster", "c1", "--tasks", arns[0])["tasks"][0]
    assert (task["lastStatus"], task["stopCode"], task["stoppedReason"]) == (
        "STOPPED", "UserInitiated", "done")

    svc = ecs("create-service", "--cluster", "c1", "--service-name", "s1", "--task-definition",
              "web", "--desired-count", "1", "--launch-type", "FARGATE",
              "--network-configuration", NET)["service"]
    assert svc["deployments"][0]["rolloutState"] == "IN_PROGRESS"
    ecs("wait", "services-stable", "--cluster", "c1", "--services", "s1")
    shown = ecs("describe-services", "--cluster", "c1", "--services", "s1", "ghost")
    assert shown["services"][0]["deployments"][0]["rolloutState"] == "COMPLETED"
    assert shown["failures"] == [{
        "arn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:service/c1/ghost", "reason": "MISSING"}]
    assert ecs.fails("update-service", "--cluster", "c1", "--service", "ghost",
                     "--desired-count", "1").endswith(
        "(ServiceNotFoundException) when calling the UpdateService operation: "
        "Service not found.")
    assert ecs.fails("delete-service", "--cluster", "c1", "--service", "s1").endswith(
        "(InvalidParameterException) when calling the DeleteService operation: The service "
        "cannot be stopped while it is scaled above 0.")
    assert ecs("delete-service", "--cluster", "c1", "--service", "s1", "--force")[
        "service"]["status"] == "DRAINING"
    assert ecs.fails("describe-clusters", "--clusters", "c1", "--include", "NOPE") != ""
