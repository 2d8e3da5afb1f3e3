"""Real boto3 against the endpoint: the new ECS shapes survive AWS's JSON protocol."""

from __future__ import annotations

import boto3
import pytest

from simulator import Simulation
from simulator.api import serve
from tests.ecs.helpers import CLUSTER, CONTAINER, NET, make_cluster, make_key


@pytest.fixture
def endpoint():
    sim = Simulation()
    key = make_key(sim)
    make_cluster(sim, key=key)
    srv = serve(sim)
    yield sim, key, boto3.client("ecs", endpoint_url=srv.url, region_name="us-west-2",
                                 aws_access_key_id="AKIDROOT", aws_secret_access_key="x")
    srv.shutdown()
    srv.server_close()


def test_task_sets_and_revisions_over_http(endpoint):
    sim, key, ecs = endpoint
    td = ecs.register_task_definition(
        family="app", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="256",
        memory="512", containerDefinitions=[CONTAINER])["taskDefinition"]["taskDefinitionArn"]
    ecs.create_service(cluster=CLUSTER, serviceName="ext", desiredCount=1, launchType="FARGATE",
                       networkConfiguration=NET, deploymentController={"type": "EXTERNAL"})
    ts = ecs.create_task_set(cluster=CLUSTER, service="ext", taskDefinition=td)["taskSet"]
    assert ts["fargateEphemeralStorage"] == {"kmsKeyId": key}
    assert ts["scale"] == {"value": 100.0, "unit": "PERCENT"}
    ecs.create_service(cluster=CLUSTER, serviceName="web", desiredCount=1, launchType="FARGATE",
                       networkConfiguration=NET, taskDefinition=td)
    sim.fargate.settle()
    [dep] = ecs.list_service_deployments(cluster=CLUSTER, service="web")["serviceDeployments"]
    [rev] = ecs.describe_service_revisions(
        serviceRevisionArns=[dep["targetServiceRevisionArn"]])["serviceRevisions"]
    assert rev["fargateEphemeralStorage"]["kmsKeyId"] == key
    assert rev["createdAt"].tzinfo is not None
