"""ECS as a real AWS client sees it: every implemented operation's response against botocore's
output shape, and the common errors' codes and messages.

One tour runs every ECS operation the simulator implements (``simulator/model_members.toml``)
once, in a sensible order, twice: in process (``strict_shapes``) and through the HTTP endpoint
with boto3, whose parsed response is what the AWS CLI and SDKs hand to their users. Each
response must match the operation's output shape (members, types, enums, required members)
and carry the members AWS always returns even where the model marks them optional (the
seed's recorded create-cluster answer and the ECS API Reference's examples).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError as BotoClientError

from simulator import Simulation
from simulator.api import serve
from simulator.models import service_model
from tests.ecs.helpers import ACCOUNT, CLUSTER, CONTAINER, NET, make_key
from tests.shape_check import assert_answers_as_aws

ROOT = Path(__file__).resolve().parents[2]
TD = {"family": "app", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
      "cpu": "256", "memory": "512", "containerDefinitions": [CONTAINER],
      "tags": [{"key": "team", "value": "a"}]}
FAMILY_ARN = f"arn:aws:ecs:us-west-2:{ACCOUNT}:task-definition/app"

Params = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


def _remember(seen: dict[str, Any], operation: str, response: dict[str, Any]) -> None:
    if operation == "RunTask":
        seen["task"] = response["tasks"][0]["taskArn"]
    elif operation == "CreateTaskSet":
        seen["taskSet"] = response["taskSet"]["taskSetArn"]
    elif operation == "ListServiceDeployments" and response["serviceDeployments"]:
        dep = response["serviceDeployments"][0]
        seen["deployment"] = dep["serviceDeploymentArn"]
        seen["revision"] = dep["targetServiceRevisionArn"]


#: Every implemented operation once; a callable builds its parameters from earlier answers.
#: ("settle" is not an operation: it lets the simulated clock run until tasks are RUNNING.)
TOUR: list[tuple[str, Params]] = [
    ("CreateCluster", lambda seen: {
        "clusterName": CLUSTER, "tags": [{"key": "env", "value": "dev"}],
        "settings": [{"name": "containerInsights", "value": "disabled"}],
        "configuration": {"managedStorageConfiguration": {
            "fargateEphemeralStorageKmsKeyId": seen["key"]}}}),
    ("CreateCluster", {"clusterName": "spare"}),
    ("DescribeClusters", {"clusters": [CLUSTER, "nowhere"], "include": ["TAGS", "SETTINGS",
                                                                       "CONFIGURATIONS"]}),
    ("ListClusters", {"maxResults": 1}),
    ("UpdateCluster", {"cluster": CLUSTER,
                       "settings": [{"name": "containerInsights", "value": "enabled"}]}),
    ("UpdateClusterSettings", {"cluster": CLUSTER,
                               "settings": [{"name": "containerInsights", "value": "enhanced"}]}),
    ("PutClusterCapacityProviders", {"cluster": CLUSTER, "capacityProviders": ["FARGATE"],
                                     "defaultCapacityProviderStrategy": [
                                         {"capacityProvider": "FARGATE", "weight": 1}]}),
    ("DescribeCapacityProviders", {"capacityProviders": ["FARGATE_SPOT", "nope"]}),
    ("TagResource", {"resourceArn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/spare",
                     "tags": [{"key": "k", "value": "v"}]}),
    ("ListTagsForResource", {"resourceArn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/spare"}),
    ("UntagResource", {"resourceArn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/spare",
                       "tagKeys": ["k"]}),
    ("RegisterTaskDefinition", TD),
    ("RegisterTaskDefinition", TD),
    ("DescribeTaskDefinition", {"taskDefinition": "app:1", "include": ["TAGS"]}),
    ("ListTaskDefinitions", {"familyPrefix": "app", "maxResults": 1}),
    ("ListTaskDefinitionFamilies", {"familyPrefix": "a"}),
    ("RunTask", {"cluster": CLUSTER, "taskDefinition": "app:1", "launchType": "FARGATE",
                 "networkConfiguration": NET, "tags": [{"key": "run", "value": "1"}]}),
    ("settle", {}),
    ("DescribeTasks", lambda seen: {"cluster": CLUSTER, "include": ["TAGS"],
                                    "tasks": [seen["task"], "0123456789abcdef0123456789abcdef"]}),
    ("ListTasks", {"cluster": CLUSTER, "maxResults": 10}),
    ("StopTask", lambda seen: {"cluster": CLUSTER, "task": seen["task"], "reason": "done"}),
    ("CreateService", {"cluster": CLUSTER, "serviceName": "web", "taskDefinition": "app:1",
                       "desiredCount": 1, "launchType": "FARGATE",
                       "networkConfiguration": NET}),
    ("settle", {}),
    ("DescribeServices", {"cluster": CLUSTER, "services": ["web", "ghost"]}),
    ("ListServices", {"cluster": CLUSTER}),
    ("UpdateService", {"cluster": CLUSTER, "service": "web", "taskDefinition": "app:2"}),
    ("settle", {}),
    ("ListServiceDeployments", {"cluster": CLUSTER, "service": "web"}),
    ("DescribeServiceDeployments", lambda seen: {"serviceDeploymentArns": [seen["deployment"]]}),
    ("DescribeServiceRevisions", lambda seen: {"serviceRevisionArns": [seen["revision"]]}),
    ("CreateService", {"cluster": CLUSTER, "serviceName": "ext", "desiredCount": 2,
                       "launchType": "FARGATE", "networkConfiguration": NET,
                       "deploymentController": {"type": "EXTERNAL"}}),
    ("CreateTaskSet", {"cluster": CLUSTER, "service": "ext", "taskDefinition": "app:1",
                       "externalId": "blue", "networkConfiguration": NET,
                       "launchType": "FARGATE"}),
    ("DescribeTaskSets", {"cluster": CLUSTER, "service": "ext"}),
    ("UpdateTaskSet", lambda seen: {"cluster": CLUSTER, "service": "ext",
                                    "taskSet": seen["taskSet"],
                                    "scale": {"value": 50, "unit": "PERCENT"}}),
    ("UpdateServicePrimaryTaskSet", lambda seen: {"cluster": CLUSTER, "service": "ext",
                                                  "primaryTaskSet": seen["taskSet"]}),
    ("DeleteTaskSet", lambda seen: {"cluster": CLUSTER, "service": "ext",
                                    "taskSet": seen["taskSet"], "force": True}),
    ("DeleteService", {"cluster": CLUSTER, "service": "ext", "force": True}),
    ("DeleteService", {"cluster": CLUSTER, "service": "web", "force": True}),
    ("StartTask", {"cluster": CLUSTER, "taskDefinition": "app:1",
                   "containerInstances": ["0123456789abcdef"]}),
    ("DeregisterTaskDefinition", {"taskDefinition": "app:2"}),
    ("DeleteTaskDefinitions", {"taskDefinitions": ["app:2", "app:1"]}),
    ("DeleteCluster", {"cluster": "spare"}),
]

#: Members AWS returns in these structures although botocore's model marks them optional:
#: the seed's recorded create-cluster answer and the examples of
#: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeClusters.html,
#: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html,
#: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTaskDefinition.html,
#: https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html.
ALWAYS: dict[str, tuple[str, ...]] = {
    "Cluster": ("clusterArn", "clusterName", "status", "registeredContainerInstancesCount",
                "runningTasksCount", "pendingTasksCount", "activeServicesCount", "statistics",
                "tags", "capacityProviders", "defaultCapacityProviderStrategy"),
    "Task": ("taskArn", "clusterArn", "taskDefinitionArn", "lastStatus", "desiredStatus",
             "launchType", "cpu", "memory", "createdAt", "group", "overrides", "containers",
             "attachments", "attributes", "version", "platformVersion", "platformFamily",
             "ephemeralStorage", "fargateEphemeralStorage", "availabilityZone",
             "enableExecuteCommand", "tags"),
    "Container": ("containerArn", "taskArn", "name", "image", "lastStatus",
                  "networkInterfaces"),
    "TaskDefinition": ("taskDefinitionArn", "family", "revision", "status",
                       "containerDefinitions", "volumes", "placementConstraints",
                       "networkMode", "requiresCompatibilities", "compatibilities",
                       "requiresAttributes", "registeredAt", "registeredBy", "cpu", "memory"),
    "Service": ("serviceArn", "serviceName", "clusterArn", "status", "desiredCount",
                "runningCount", "pendingCount", "launchType", "deployments", "events",
                "createdAt", "deploymentConfiguration", "schedulingStrategy",
                "deploymentController", "enableECSManagedTags", "propagateTags",
                "enableExecuteCommand", "loadBalancers", "serviceRegistries",
                "placementConstraints", "placementStrategy"),
    "Deployment": ("id", "status", "taskDefinition", "desiredCount", "pendingCount",
                   "runningCount", "failedTasks", "createdAt", "updatedAt", "launchType",
                   "rolloutState", "rolloutStateReason"),
    "Failure": ("arn", "reason"),
    "TaskSet": ("id", "taskSetArn", "serviceArn", "clusterArn", "status", "taskDefinition",
                "computedDesiredCount", "pendingCount", "runningCount", "createdAt",
                "updatedAt", "launchType", "scale", "stabilityStatus", "stabilityStatusAt"),
}


def implemented() -> set[str]:
    with open(ROOT / "simulator" / "model_members.toml", "rb") as f:
        return {op for op in tomllib.load(f)["ecs"] if op != "error"}


def check(operation: str, response: dict[str, Any]) -> None:
    assert_answers_as_aws("ecs", operation, response, ALWAYS)


def run_tour(call: Callable[[str, dict[str, Any]], dict[str, Any]],
             settle: Callable[[], None], key: str) -> dict[str, Any]:
    seen: dict[str, Any] = {"key": key}
    answers: dict[str, Any] = {}
    for operation, params in TOUR:
        if operation == "settle":
            settle()
            continue
        given = params(seen) if callable(params) else params
        response = call(operation, given)
        check(operation, response)
        _remember(seen, operation, response)
        answers.setdefault(operation, response)
    return answers


def test_the_tour_runs_every_implemented_operation():
    assert {op for op, _ in TOUR if op != "settle"} == implemented()


def _assert_awss_answers(answers: dict[str, Any], key: str) -> None:
    cluster = answers["CreateCluster"]["cluster"]
    # the seed's recorded create-cluster answer, member for member
    assert set(cluster) == {
        "clusterArn", "clusterName", "configuration", "status",
        "registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount",
        "activeServicesCount", "statistics", "tags", "settings", "capacityProviders",
        "defaultCapacityProviderStrategy"}
    assert cluster["configuration"] == {"managedStorageConfiguration": {
        "fargateEphemeralStorageKmsKeyId": key}}
    described = answers["DescribeClusters"]
    assert described["failures"] == [{
        "arn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/nowhere", "reason": "MISSING"}]
    task = answers["DescribeTasks"]["tasks"][0]
    assert task["fargateEphemeralStorage"]["kmsKeyId"] == key
    assert task["ephemeralStorage"] == {"sizeInGiB": 20}
    assert task["platformFamily"] == "Linux" and task["platformVersion"] == "1.4.0"
    assert task["tags"] == [{"key": "run", "value": "1"}]
    assert task["connectivity"] == "CONNECTED" and task["lastStatus"] == "RUNNING"
    assert [f["reason"] for f in answers["DescribeTasks"]["failures"]] == ["MISSING"]
    td = answers["DescribeTaskDefinition"]
    assert td["tags"] == [{"key": "team", "value": "a"}]
    assert td["taskDefinition"]["compatibilities"] == ["EC2", "FARGATE"]
    assert td["taskDefinition"]["registeredBy"] == f"arn:aws:iam::{ACCOUNT}:root"
    services = answers["DescribeServices"]
    assert services["failures"] == [{
        "arn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:service/{CLUSTER}/ghost", "reason": "MISSING"}]


def test_every_operation_in_process_matches_the_output_shape():
    sim = Simulation(account_id=ACCOUNT, region="us-west-2", strict_shapes=True)
    key = make_key(sim)
    ecs = sim.client("ecs")
    answers = run_tour(ecs.call, sim.fargate.settle, key)
    _assert_awss_answers(answers, key)


@pytest.fixture
def endpoint():
    import boto3
    from botocore.config import Config

    sim = Simulation(account_id=ACCOUNT, region="us-west-2")
    key = make_key(sim)
    srv = serve(sim)
    ecs = boto3.client("ecs", endpoint_url=srv.url, region_name="us-west-2",
                       aws_access_key_id="AKIDROOT", aws_secret_access_key="x",
                       config=Config(retries={"max_attempts": 1}))
    yield sim, key, ecs
    srv.shutdown()
    srv.server_close()


def test_every_operation_through_the_endpoint_parses_to_the_output_shape(endpoint):
    """boto3's parse of the endpoint's JSON: what the AWS CLI and SDKs see."""
    sim, key, ecs = endpoint
    answers = run_tour(lambda op, params: getattr(ecs, xform_name(op))(**params),
                       sim.fargate.settle, key)
    _assert_awss_answers(answers, key)
    assert answers["DescribeTasks"]["tasks"][0]["createdAt"].tzinfo is not None


def _error(call: Callable[..., Any], **params: Any) -> tuple[str, str, int]:
    with pytest.raises(BotoClientError) as info:
        call(**params)
    err = info.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


# -- errors ------------------------------------------------------------------------------------
def test_every_ecs_error_is_http_400_but_server_exception():
    """botocore's ECS model gives no status to its errors: AWS's JSON protocol answers 400
    for client faults and 500 for ServerException."""
    from simulator import errors

    for shape in service_model("ecs").error_shapes:
        expected = 500 if shape.name == "ServerException" else 400
        assert errors.error_class(shape.name).status == expected, shape.name


def test_common_errors_through_the_endpoint_in_aws_words(endpoint):
    """Code, message and HTTP status as a boto3 user sees them, each as ECS answers (the
    sources are cited where the service raises them)."""
    sim, _key, ecs = endpoint
    ecs.create_cluster(clusterName=CLUSTER)
    td = ecs.register_task_definition(**TD)["taskDefinition"]["taskDefinitionArn"]
    assert _error(ecs.describe_services, cluster="ghost", services=["web"]) == (
        "ClusterNotFoundException", "Cluster not found.", 400)
    assert _error(ecs.update_cluster, cluster="ghost", settings=[
        {"name": "containerInsights", "value": "enabled"}]) == (
        "ClusterNotFoundException", "Cluster not found.", 400)
    assert _error(ecs.describe_task_definition, taskDefinition="ghost:1") == (
        "ClientException", "Unable to describe task definition.", 400)
    assert _error(ecs.deregister_task_definition, taskDefinition="ghost:1") == (
        "ClientException", "The specified task definition does not exist.", 400)
    service = {"cluster": CLUSTER, "serviceName": "web", "desiredCount": 1,
               "launchType": "FARGATE", "networkConfiguration": NET}
    assert _error(ecs.create_service, taskDefinition="ghost:1", **service) == (
        "ClientException", "TaskDefinition not found.", 400)
    assert _error(ecs.update_service, cluster=CLUSTER, service="web", desiredCount=2) == (
        "ServiceNotFoundException", "Service not found.", 400)
    ecs.create_service(taskDefinition=td, **service)
    assert _error(ecs.create_service, taskDefinition=f"{td[:-1]}1", **{
        **service, "desiredCount": 3}) == (
        "InvalidParameterException", "Creation of service was not idempotent.", 400)
    assert _error(ecs.create_service, taskDefinition=td, platformVersion="1.9.0", **{
        **service, "serviceName": "odd"}) == (
        "PlatformUnknownException", "The specified platform does not exist.", 400)
    big = ecs.register_task_definition(**{**TD, "family": "big", "ephemeralStorage": {
        "sizeInGiB": 30}})["taskDefinition"]["taskDefinitionArn"]
    assert _error(ecs.create_service, taskDefinition=big, platformVersion="1.3.0", **{
        **service, "serviceName": "old"}) == (
        "PlatformTaskDefinitionIncompatibilityException",
        "One or more of the requested capabilities are not supported.", 400)
    assert _error(ecs.delete_service, cluster=CLUSTER, service="web") == (
        "InvalidParameterException",
        "The service cannot be stopped while it is scaled above 0.", 400)
    assert _error(ecs.delete_cluster, cluster=CLUSTER) == (
        "ClusterContainsServicesException",
        "The Cluster cannot be deleted while Services are active.", 400)
    ecs.delete_service(cluster=CLUSTER, service="web", force=True)
    sim.fargate.settle()
    assert _error(ecs.update_service, cluster=CLUSTER, service="web", desiredCount=1) == (
        "ServiceNotActiveException", "Service was not ACTIVE.", 400)
    ecs.deregister_task_definition(taskDefinition=td)
    assert _error(ecs.create_service, taskDefinition=td, **{**service, "serviceName": "w2"}) == (
        "InvalidParameterException", "TaskDefinition is inactive", 400)
    ecs.run_task(cluster=CLUSTER, taskDefinition=big, launchType="FARGATE",
                 networkConfiguration=NET)
    assert _error(ecs.delete_cluster, cluster=CLUSTER) == (
        "ClusterContainsTasksException",
        "The Cluster cannot be deleted while Tasks are active.", 400)
    assert [c["status"] for c in ecs.describe_clusters(clusters=[CLUSTER])["clusters"]] == [
        "ACTIVE"]  # nothing half-deleted


def test_task_set_refusals_in_aws_words(sim):
    from simulator import errors

    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    td = ecs.register_task_definition(**TD)["taskDefinition"]["taskDefinitionArn"]
    base = {"cluster": CLUSTER, "desiredCount": 1, "launchType": "FARGATE",
            "networkConfiguration": NET}
    ecs.create_service(serviceName="web", taskDefinition=td, **base)
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.create_task_set(cluster=CLUSTER, service="web", taskDefinition=td)
    assert info.value.message == ("Amazon ECS only supports task set management on services "
                                  "configured to use external deployment controllers.")
    assert "ECS deployment controller" in (info.value.explanation or "")
    ecs.create_service(serviceName="ext", deploymentController={"type": "EXTERNAL"}, **base)
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.update_service(cluster=CLUSTER, service="ext", taskDefinition=td)
    assert info.value.message == ("Unable to update task definition on services with a "
                                  "EXTERNAL deployment controller.")
    assert "CreateTaskSet" in (info.value.explanation or "")
    for _ in range(5):
        ecs.create_task_set(cluster=CLUSTER, service="ext", taskDefinition=td)
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.create_task_set(cluster=CLUSTER, service="ext", taskDefinition=td)
    assert info.value.message == ("5 deployments exist on the service. Unable to create new "
                                  "TaskSet since this exceeds the maximum limit.")
    assert len(ecs.describe_task_sets(cluster=CLUSTER, service="ext")["taskSets"]) == 5


def test_access_denied_is_ecs_access_denied_exception_in_aws_words(sim):
    """ECS denies with AccessDeniedException (HTTP 400, ECS's JSON protocol), IAM's sentence
    naming the caller, the action and the resource ARN; the evaluation rides along."""
    from simulator import errors
    from tests.ecs.helpers import make_role

    sim.client("ecs").create_cluster(clusterName=CLUSTER)
    role = make_role(sim, "nobody")
    caller = sim.client("ecs", principal=role)
    cases = {
        "CreateCluster": ({"clusterName": "x"}, f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/x"),
        "DescribeClusters": ({"clusters": [CLUSTER]},
                             f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/{CLUSTER}"),
        "ListClusters": ({}, "*"),
        "RegisterTaskDefinition": (TD, f"{FAMILY_ARN}:1"),
    }
    for op, (params, resource) in cases.items():
        with pytest.raises(errors.AccessDeniedException) as info:
            caller.call(op, params)
        assert (info.value.code, info.value.status) == ("AccessDeniedException", 400), op
        assert info.value.message == (
            f"User: {role} is not authorized to perform: ecs:{op} on resource: {resource} "
            f"because no identity-based policy allows the ecs:{op} action"), op
        assert info.value.details["evaluation"].decision != "allowed"
    assert sim.client("ecs").list_clusters()["clusterArns"] == [
        f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/{CLUSTER}"]


def test_a_service_on_ec2_is_refused_with_ecs_placement_words(sim):
    from simulator import errors

    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName=CLUSTER)
    td = ecs.register_task_definition(**{**TD, "requiresCompatibilities": []})[
        "taskDefinition"]["taskDefinitionArn"]
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=td,
                           desiredCount=1, launchType="EC2", networkConfiguration=NET)
    assert info.value.message == "No Container Instances were found in your cluster."
    assert "Fargate only" in (info.value.explanation or "")
    assert ecs.list_services(cluster=CLUSTER)["serviceArns"] == []


def test_an_arn_of_another_region_is_refused_in_aws_words(endpoint):
    """aws/aws-cli#3175: run-task with us-east-1 ARNs sent to another Region answers
    ``InvalidParameterException: Invalid Region in ARN``; so does every ECS operation that
    is handed an ECS ARN of another Region (never the same-named resource here)."""
    _sim, _key, ecs = endpoint
    ecs.create_cluster(clusterName=CLUSTER)
    ecs.register_task_definition(**TD)
    east = f"arn:aws:ecs:us-east-1:{ACCOUNT}"
    assert _error(ecs.run_task, cluster=f"{east}:cluster/{CLUSTER}",
                  taskDefinition=f"{east}:task-definition/app:1", launchType="FARGATE",
                  networkConfiguration=NET) == (
        "InvalidParameterException", "Invalid Region in ARN", 400)
    assert _error(ecs.describe_clusters, clusters=[f"{east}:cluster/{CLUSTER}"]) == (
        "InvalidParameterException", "Invalid Region in ARN", 400)
    assert _error(ecs.describe_tasks, cluster=CLUSTER,
                  tasks=[f"{east}:task/{CLUSTER}/0123456789abcdef0123456789abcdef"]) == (
        "InvalidParameterException", "Invalid Region in ARN", 400)
    assert ecs.describe_clusters(clusters=[f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/{CLUSTER}"]
                                 )["clusters"][0]["clusterName"] == CLUSTER
