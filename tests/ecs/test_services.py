"""Services and deployments: rolling updates on the simulated clock, scaling, deletion."""

from __future__ import annotations

import pytest

from simulator import errors
from tests.ecs.helpers import ACCOUNT, NET, make_cluster, register


@pytest.fixture
def ecs(sim):
    make_cluster(sim)
    return sim.client("ecs")


def create(ecs, td, desired=2, name="web", **extra):
    extra.setdefault("launchType", "FARGATE")
    extra.setdefault("networkConfiguration", NET)
    extra = {k: v for k, v in extra.items() if v is not None}
    return ecs.create_service(cluster="prod", serviceName=name, taskDefinition=td,
                              desiredCount=desired, **extra)["service"]


def service(ecs, name="web"):
    return ecs.describe_services(cluster="prod", services=[name])["services"][0]


def test_create_service_reaches_a_steady_state(sim, ecs):
    td = register(sim)
    out = create(ecs, td)
    assert out["serviceArn"] == f"arn:aws:ecs:us-west-2:{ACCOUNT}:service/prod/web"
    [dep] = out["deployments"]
    assert (dep["status"], dep["rolloutState"]) == ("PRIMARY", "IN_PROGRESS")
    assert dep["id"].startswith("ecs-svc/") and dep["platformVersion"] == "1.4.0"
    # AWS's words, naming the deployment (the AWS CLI's create-service example)
    assert dep["rolloutStateReason"] == f"ECS deployment {dep['id']} in progress."
    # the answer precedes the scheduler (awscli/examples/ecs/create-service.rst: desired 2,
    # pending 0, no events); the tasks are pending straight after
    assert (out["desiredCount"], out["pendingCount"], out["runningCount"]) == (2, 0, 0)
    assert out["events"] == [] and (dep["pendingCount"], dep["runningCount"]) == (0, 0)
    assert service(ecs)["pendingCount"] == 2
    sim.fargate.settle()
    svc = service(ecs)
    assert (svc["runningCount"], svc["pendingCount"]) == (2, 0)
    [dep] = svc["deployments"]
    assert dep["rolloutState"] == "COMPLETED" and dep["runningCount"] == 2
    assert dep["rolloutStateReason"] == f"ECS deployment {dep['id']} completed."
    assert "steady state" in svc["events"][0]["message"]
    tasks = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
    assert len(tasks) == 2
    d = ecs.describe_tasks(cluster="prod", tasks=tasks)["tasks"][0]
    assert d["group"] == "service:web" and d["startedBy"] == dep["id"]
    c = ecs.describe_clusters(clusters=["prod"])["clusters"][0]
    assert c["activeServicesCount"] == 1 and c["runningTasksCount"] == 2
    ecs.update_service(cluster="prod", service="web", desiredCount=3)
    assert service(ecs)["deployments"][0]["rolloutStateReason"] == (
        f"ECS deployment {dep['id']} in progress.")


def test_rolling_update_to_a_new_task_definition(sim, ecs):
    td1 = register(sim)
    td2 = register(sim)
    create(ecs, td1, desired=2)
    sim.fargate.settle()
    old = set(ecs.list_tasks(cluster="prod")["taskArns"])
    out = ecs.update_service(cluster="prod", service="web", taskDefinition=td2)["service"]
    new, prev = out["deployments"]
    assert (new["status"], prev["status"]) == ("PRIMARY", "ACTIVE")
    assert new["taskDefinition"] == td2 and new["rolloutState"] == "IN_PROGRESS"
    # the answer precedes the scheduler (awscli/examples/ecs/update-service.rst): nothing of
    # the new deployment started yet, the old one's tasks all running
    assert (new["pendingCount"], new["runningCount"], prev["runningCount"]) == (0, 0, 2)
    assert (out["pendingCount"], out["runningCount"]) == (0, 2)
    assert service(ecs)["deployments"][0]["pendingCount"] == 2
    # Mid-way: old tasks keep running until new ones run (minimumHealthyPercent 100).
    sim.clock.advance(sim.ecs.timings.start_seconds() - 1)
    mid = service(ecs)
    assert mid["runningCount"] == 2 and len(mid["deployments"]) == 2
    sim.fargate.settle()
    svc = service(ecs)
    [dep] = svc["deployments"]
    assert dep["taskDefinition"] == td2 and dep["rolloutState"] == "COMPLETED"
    assert svc["taskDefinition"] == td2
    now = set(ecs.list_tasks(cluster="prod")["taskArns"])
    assert len(now) == 2 and not now & old
    stopped = ecs.describe_tasks(cluster="prod", tasks=sorted(old))["tasks"]
    assert {t["stopCode"] for t in stopped} == {"ServiceSchedulerInitiated"}


def test_scaling_keeps_the_deployment(sim, ecs):
    td = register(sim)
    create(ecs, td, desired=1)
    sim.fargate.settle()
    dep_id = service(ecs)["deployments"][0]["id"]
    ecs.update_service(cluster="prod", service="web", desiredCount=3)
    sim.fargate.settle()
    svc = service(ecs)
    assert svc["runningCount"] == 3 and svc["deployments"][0]["id"] == dep_id
    ecs.update_service(cluster="prod", service="web", desiredCount=1)
    sim.fargate.settle()
    assert service(ecs)["runningCount"] == 1
    assert len(ecs.list_tasks(cluster="prod")["taskArns"]) == 1


def test_force_new_deployment(sim, ecs):
    td = register(sim)
    create(ecs, td, desired=1)
    sim.fargate.settle()
    first = service(ecs)["deployments"][0]["id"]
    ecs.update_service(cluster="prod", service="web", forceNewDeployment=True)
    sim.fargate.settle()
    [dep] = service(ecs)["deployments"]
    assert dep["id"] != first and dep["rolloutState"] == "COMPLETED"


def test_replacing_a_stopped_task(sim, ecs):
    td = register(sim)
    create(ecs, td, desired=2)
    sim.fargate.settle()
    [victim, _] = ecs.list_tasks(cluster="prod")["taskArns"]
    ecs.stop_task(cluster="prod", task=victim)
    sim.fargate.settle()
    now = ecs.list_tasks(cluster="prod")["taskArns"]
    assert len(now) == 2 and victim not in now


def test_delete_service(sim, ecs):
    td = register(sim)
    create(ecs, td, desired=2)
    sim.fargate.settle()
    with pytest.raises(errors.InvalidParameterException, match="scaled above 0"):
        ecs.delete_service(cluster="prod", service="web")
    out = ecs.delete_service(cluster="prod", service="web", force=True)["service"]
    assert out["status"] == "DRAINING"
    with pytest.raises(errors.ServiceNotActiveException) as info:  # draining: not ACTIVE
        ecs.update_service(cluster="prod", service="web", desiredCount=1)
    assert info.value.message == "Service was not ACTIVE."
    assert info.value.explanation.startswith("service web is DRAINING")
    assert "wait until it is INACTIVE" in info.value.explanation  # not yet re-creatable
    # DeleteService: a DRAINING service "is no longer visible in the console or in the
    # ListServices API operation", but DescribeServices still shows it.
    assert ecs.list_services(cluster="prod")["serviceArns"] == []
    assert service(ecs)["status"] == "DRAINING"
    sim.fargate.settle()
    assert service(ecs)["status"] == "INACTIVE"
    assert ecs.list_services(cluster="prod")["serviceArns"] == []
    assert ecs.list_tasks(cluster="prod")["taskArns"] == []
    with pytest.raises(errors.ServiceNotActiveException) as info:
        ecs.update_service(cluster="prod", service="web", desiredCount=1)
    assert info.value.explanation.startswith("service web is INACTIVE")
    assert "can be created again" in info.value.explanation
    create(ecs, td, desired=0)  # the name is free again


def test_service_errors(sim, ecs):
    td = register(sim)
    create(ecs, td, desired=0)
    with pytest.raises(errors.InvalidParameterException, match="idempotent"):
        create(ecs, td, desired=0)
    with pytest.raises(errors.ServiceNotFoundException):
        ecs.update_service(cluster="prod", service="ghost", desiredCount=1)
    with pytest.raises(errors.ServiceNotFoundException):
        ecs.delete_service(cluster="prod", service="ghost")
    with pytest.raises(errors.ClientException, match="not found"):
        create(ecs, "ghost", name="x")
    with pytest.raises(errors.InvalidParameterException, match="Network Configuration"):
        create(ecs, td, name="x", networkConfiguration=None)
    with pytest.raises(errors.InvalidParameterException, match="desiredCount"):
        ecs.create_service(cluster="prod", serviceName="x", taskDefinition=td,
                           launchType="FARGATE", networkConfiguration=NET)
    with pytest.raises(errors.InvalidParameterException, match="No Container Instances") as info:
        create(ecs, td, name="x", launchType="EC2")
    assert "launchType EC2" in (info.value.explanation or "")
    with pytest.raises(errors.InvalidParameterException, match="DAEMON"):
        create(ecs, td, name="x", schedulingStrategy="DAEMON")
    with pytest.raises(errors.InvalidParameterException, match="maximumPercent"):
        create(ecs, td, name="x", deploymentConfiguration={
            "maximumPercent": 100, "minimumHealthyPercent": 100})
    with pytest.raises(errors.PlatformUnknownException):
        create(ecs, td, name="x", platformVersion="9.9.9")
    assert ecs.list_services(cluster="prod")["serviceArns"] == [service(ecs)["serviceArn"]]
    out = ecs.describe_services(cluster="prod", services=["ghost"])
    assert out["failures"] == [{
        "arn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:service/prod/ghost", "reason": "MISSING"}]
    with pytest.raises(errors.InvalidParameterException, match="at most 10"):
        ecs.describe_services(cluster="prod", services=[f"s{i}" for i in range(11)])
    with pytest.raises(errors.InvalidParameterException, match="Services cannot be empty"):
        ecs.describe_services(cluster="prod", services=[])


def test_list_services_pages_ten_by_default(sim, ecs):
    td = register(sim)
    for i in range(12):
        create(ecs, td, desired=0, name=f"s{i}")
    page = ecs.list_services(cluster="prod")
    assert len(page["serviceArns"]) == 10
    rest = ecs.list_services(cluster="prod", nextToken=page["nextToken"])
    assert len(rest["serviceArns"]) == 2


def test_tags_propagate_from_the_service(sim, ecs):
    td = register(sim)
    create(ecs, td, desired=1, tags=[{"key": "svc", "value": "web"}], propagateTags="SERVICE")
    sim.fargate.settle()
    arns = ecs.list_tasks(cluster="prod")["taskArns"]
    task = ecs.describe_tasks(cluster="prod", tasks=arns, include=["TAGS"])["tasks"][0]
    assert task["tags"] == [{"key": "svc", "value": "web"}]
    svc = ecs.describe_services(cluster="prod", services=["web"], include=["TAGS"])
    assert svc["services"][0]["tags"] == [{"key": "svc", "value": "web"}]


def _break_the_key(sim, ecs):
    """Point the cluster at a key whose policy does not let Fargate use it."""
    from tests.ecs.helpers import make_key

    bad = make_key(sim, cluster="some-other-cluster")
    ecs.update_cluster(cluster="prod", configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": bad}})
    return bad


def test_failing_tasks_are_counted_and_retried(sim, ecs):
    td = register(sim)
    _break_the_key(sim, ecs)
    create(ecs, td, desired=1)
    sim.fargate.settle(max_seconds=100)
    svc = service(ecs)
    [dep] = svc["deployments"]
    assert dep["rolloutState"] == "IN_PROGRESS" and dep["failedTasks"] >= 2
    assert svc["runningCount"] == 0
    assert any("failed to start" in e["message"] and "AccessDeniedException" in e["message"]
               for e in svc["events"])


def test_circuit_breaker_fails_and_rolls_back_to_the_old_key(sim, ecs):
    from simulator.ecs.deployments import circuit_breaker_threshold
    from tests.ecs.helpers import make_key

    good = make_key(sim)
    ecs.update_cluster(cluster="prod", configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": good}})
    td = register(sim)
    create(ecs, td, desired=2, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
    sim.fargate.settle()
    first = service(ecs)["deployments"][0]
    assert first["rolloutState"] == "COMPLETED"
    _break_the_key(sim, ecs)
    ecs.update_service(cluster="prod", service="web", forceNewDeployment=True)
    sim.fargate.settle()
    svc = service(ecs)
    [dep] = svc["deployments"]
    assert dep["id"] not in (first["id"],) and dep["rolloutState"] == "COMPLETED"
    assert dep["fargateEphemeralStorage"] == {"kmsKeyId": good}
    assert svc["runningCount"] == 2
    messages = " ".join(e["message"] for e in svc["events"])
    assert "deployment failed" in messages and "rolling back" in messages
    # ServiceDeploymentCircuitBreaker.threshold: "a minimum threshold of 3 and a maximum
    # threshold of 200", "0.5 * desired task count".
    assert [circuit_breaker_threshold(n) for n in (1, 2, 6, 7, 10, 400, 1000)] == [
        3, 3, 3, 4, 5, 200, 200]


def test_circuit_breaker_without_rollback_stops_launching(sim, ecs):
    td = register(sim)
    _break_the_key(sim, ecs)
    create(ecs, td, desired=1, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    sim.fargate.settle()
    [dep] = service(ecs)["deployments"]
    assert dep["rolloutState"] == "FAILED" and dep["failedTasks"] == 3
    assert "circuit breaker" in dep["rolloutStateReason"]


def test_failed_task_count_resets_once_a_task_runs(sim, ecs):
    # Deployment.failedTasks: "Once a service deployment has one or more successfully running
    # tasks, the failed task count resets to zero and stops being evaluated."
    from tests.ecs.helpers import make_key

    key = make_key(sim)
    ecs.update_cluster(cluster="prod", configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": key}})
    td = register(sim)
    create(ecs, td, desired=1, deploymentConfiguration={
        "deploymentCircuitBreaker": {"enable": True, "rollback": False}})
    sim.fargate.settle()
    sim.client("kms").disable_key(KeyId=key)  # new tasks of the deployment now fail
    ecs.update_service(cluster="prod", service="web", desiredCount=2)
    sim.fargate.settle(max_seconds=600)
    svc = service(ecs)
    [dep] = svc["deployments"]
    assert dep["failedTasks"] == 0 and dep["rolloutState"] != "FAILED"
    assert svc["runningCount"] == 1
    assert sum("failed to start" in e["message"] for e in svc["events"]) >= 4


def test_update_service_answers_with_the_deployments_before_the_scheduler(sim, ecs):
    """awscli/examples/ecs/update-service.rst: scaling 1 -> 2 answers with the service at
    desiredCount 2 and its PRIMARY deployment still at 1, COMPLETED, not yet updated; a new
    deployment answers with nothing asked of it yet.  DescribeServices straight after shows
    what the scheduler did."""
    td1, td2 = register(sim), register(sim)
    create(ecs, td1, desired=1)
    sim.fargate.settle()
    before = service(ecs)["deployments"][0]
    out = ecs.update_service(cluster="prod", service="web", desiredCount=2)["service"]
    [dep] = out["deployments"]
    assert out["desiredCount"] == 2
    assert (dep["desiredCount"], dep["rolloutState"]) == (1, "COMPLETED")
    assert dep["updatedAt"] == before["updatedAt"]
    [now] = service(ecs)["deployments"]
    assert (now["desiredCount"], now["rolloutState"], now["pendingCount"]) == (
        2, "IN_PROGRESS", 1)
    sim.fargate.settle()
    out = ecs.update_service(cluster="prod", service="web", taskDefinition=td2)["service"]
    new, old = out["deployments"]
    assert (new["status"], new["desiredCount"], old["desiredCount"]) == ("PRIMARY", 0, 2)
    new_now = service(ecs)["deployments"][0]
    assert (new_now["id"], new_now["desiredCount"]) == (new["id"], 2)
