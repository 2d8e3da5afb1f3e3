"""Task sets: EXTERNAL and CODE_DEPLOY services, scale, primary, drain, the key per task set."""

from __future__ import annotations

import pytest

from simulator import errors
from tests.ecs.helpers import CLUSTER, NET, make_cluster, make_key, register


@pytest.fixture
def ecs(sim):
    make_cluster(sim, key=make_key(sim))
    return sim.client("ecs")


def service(ecs, controller, **extra):
    return ecs.create_service(cluster=CLUSTER, serviceName="web", desiredCount=4,
                              launchType="FARGATE", networkConfiguration=NET,
                              deploymentController={"type": controller}, **extra)["service"]


def task_set(ecs, ref):
    return ecs.describe_task_sets(cluster=CLUSTER, service="web", taskSets=[ref])["taskSets"][0]


def running(ecs):
    arns = ecs.list_tasks(cluster=CLUSTER)["taskArns"]
    return ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"] if arns else []


def test_external_service_runs_what_its_task_sets_ask(sim, ecs):
    svc = service(ecs, "EXTERNAL")
    assert svc["taskSets"] == [] and svc["deploymentController"] == {"type": "EXTERNAL"}
    td = register(sim)
    blue = ecs.create_task_set(cluster=CLUSTER, service="web", taskDefinition=td,
                               externalId="blue", scale={"value": 50, "unit": "PERCENT"})[
        "taskSet"]
    assert blue["status"] == "PRIMARY" and blue["computedDesiredCount"] == 2
    assert blue["fargateEphemeralStorage"]["kmsKeyId"] == sim.ecs.clusters[
        (sim.account_id, CLUSTER)].fargate_key
    sim.fargate.settle()
    assert len(running(ecs)) == 2
    blue = task_set(ecs, blue["id"])
    assert blue["runningCount"] == 2 and blue["stabilityStatus"] == "STEADY_STATE"


def test_scale_primary_and_drain(sim, ecs):
    service(ecs, "EXTERNAL")
    td = register(sim)
    blue = ecs.create_task_set(cluster=CLUSTER, service="web", taskDefinition=td)["taskSet"]
    green = ecs.create_task_set(cluster=CLUSTER, service="web", taskDefinition=td,
                                scale={"value": 25, "unit": "PERCENT"})["taskSet"]
    assert green["status"] == "ACTIVE" and green["computedDesiredCount"] == 1
    sim.fargate.settle()
    assert len(running(ecs)) == 5
    ecs.update_task_set(cluster=CLUSTER, service="web", taskSet=green["taskSetArn"],
                        scale={"value": 100, "unit": "PERCENT"})
    out = ecs.update_service_primary_task_set(cluster=CLUSTER, service="web",
                                              primaryTaskSet=green["id"])["taskSet"]
    assert out["status"] == "PRIMARY" and task_set(ecs, blue["id"])["status"] == "ACTIVE"
    with pytest.raises(errors.InvalidParameterException, match="primary task set"):
        ecs.delete_task_set(cluster=CLUSTER, service="web", taskSet=green["id"])
    drained = ecs.delete_task_set(cluster=CLUSTER, service="web", taskSet=blue["id"])["taskSet"]
    assert drained["status"] == "DRAINING" and drained["computedDesiredCount"] == 0
    sim.fargate.settle()
    sets = ecs.describe_task_sets(cluster=CLUSTER, service="web")["taskSets"]
    assert [s["id"] for s in sets] == [green["id"]]
    assert len(running(ecs)) == 4


def test_code_deploy_starts_with_a_primary_task_set(sim, ecs):
    td = register(sim)
    svc = service(ecs, "CODE_DEPLOY", taskDefinition=td)
    [primary] = svc["taskSets"]
    assert primary["status"] == "PRIMARY" and primary["taskDefinition"] == td
    sim.fargate.settle()
    assert len(running(ecs)) == 4
    with pytest.raises(errors.InvalidParameterException) as exc:
        ecs.update_service(cluster=CLUSTER, service="web", taskDefinition=td)
    assert exc.value.message == (
        "Unable to update task definition on services with a CODE_DEPLOY deployment "
        "controller. Use AWS CodeDeploy to trigger a new deployment.")
    ecs.update_service(cluster=CLUSTER, service="web", desiredCount=2)
    sim.fargate.settle()
    assert len(running(ecs)) == 2


def test_a_task_set_keeps_its_key_after_the_cluster_changes(sim, ecs):
    service(ecs, "EXTERNAL")
    td = register(sim)
    first = ecs.create_task_set(cluster=CLUSTER, service="web", taskDefinition=td)["taskSet"]
    new_key = make_key(sim)
    ecs.update_cluster(cluster=CLUSTER, configuration={"managedStorageConfiguration": {
        "fargateEphemeralStorageKmsKeyId": new_key}})
    second = ecs.create_task_set(cluster=CLUSTER, service="web", taskDefinition=td)["taskSet"]
    assert first["fargateEphemeralStorage"] != second["fargateEphemeralStorage"]
    assert second["fargateEphemeralStorage"] == {"kmsKeyId": new_key}
    sim.fargate.settle()
    keys = {t["fargateEphemeralStorage"]["kmsKeyId"] for t in running(ecs)}
    assert keys == {first["fargateEphemeralStorage"]["kmsKeyId"], new_key}


def test_task_set_calls_on_an_ecs_service_are_refused(sim, ecs):
    ecs.create_service(cluster=CLUSTER, serviceName="web", desiredCount=1,
                       launchType="FARGATE", networkConfiguration=NET,
                       taskDefinition=register(sim))
    with pytest.raises(errors.InvalidParameterException, match="external deployment") as info:
        ecs.create_task_set(cluster=CLUSTER, service="web", taskDefinition=register(sim))
    assert "EXTERNAL (or CODE_DEPLOY)" in (info.value.explanation or "")


def test_unknown_task_set(sim, ecs):
    service(ecs, "EXTERNAL")
    out = ecs.describe_task_sets(cluster=CLUSTER, service="web", taskSets=["ecs-svc/1"])
    assert out["taskSets"] == [] and out["failures"][0]["reason"] == "MISSING"
    with pytest.raises(errors.ClientError) as exc:
        ecs.update_task_set(cluster=CLUSTER, service="web", taskSet="ecs-svc/1",
                            scale={"value": 10, "unit": "PERCENT"})
    assert exc.value.code == "TaskSetNotFoundException"
    # The sentence alone (an assumption, moto's); which task set and service beside it.
    assert exc.value.message == "The specified task set does not exist."
    assert exc.value.explanation == "service web has no task set ecs-svc/1; its task sets are none"
