"""Tasks: RunTask validation, the lifecycle on the simulated clock, Describe/List/Stop/Start."""

from __future__ import annotations

import pytest

from simulator import Simulation, errors
from simulator.ecs import TaskTimings
from tests.ecs.helpers import (
    ACCOUNT,
    CLUSTER,
    NET,
    describe,
    make_cluster,
    make_key,
    register,
    register_windows,
    run,
)


@pytest.fixture
def td(sim):
    make_cluster(sim)
    return register(sim)


def test_run_task_starts_provisioning_then_runs_on_the_clock(sim, td):
    ecs = sim.client("ecs")
    [task] = ecs.run_task(cluster="prod", taskDefinition=td, launchType="FARGATE",
                          networkConfiguration=NET)["tasks"]
    assert (task["lastStatus"], task["desiredStatus"]) == ("PROVISIONING", "RUNNING")
    assert task["platformVersion"] == "1.4.0" and task["platformFamily"] == "Linux"
    assert task["fargateEphemeralStorage"] == {"sizeInGiB": 20}
    assert task["taskArn"].startswith(f"arn:aws:ecs:us-west-2:{ACCOUNT}:task/prod/")
    t = sim.ecs.timings
    seen = []
    for _ in range(int(t.start_seconds()) + 1):
        seen.append(describe(sim, [task["taskArn"]])[0]["lastStatus"])
        sim.clock.advance(1)
    assert seen[0] == "PROVISIONING" and seen[-1] == "RUNNING"
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s] == [
        "PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"]
    d = describe(sim, [task["taskArn"]])[0]
    assert d["createdAt"] < d["pullStartedAt"] < d["pullStoppedAt"] < d["startedAt"]
    assert d["connectivity"] == "CONNECTED"
    assert d["containers"][0]["lastStatus"] == "RUNNING"


def test_stop_task_walks_the_stop_states(sim, td):
    [task] = run(sim, td)
    ecs = sim.client("ecs")
    out = ecs.stop_task(cluster="prod", task=task["taskArn"], reason="done")["task"]
    assert (out["lastStatus"], out["desiredStatus"]) == ("RUNNING", "STOPPED")
    assert out["stopCode"] == "UserInitiated" and out["stoppedReason"] == "done"
    seen = []
    for _ in range(2 * int(sim.ecs.timings.stop_seconds()) + 2):
        sim.clock.advance(0.5 if seen else 0)
        seen.append(describe(sim, [task["taskArn"]])[0]["lastStatus"])
    order = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert order == ["DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"]
    d = describe(sim, [task["taskArn"]])[0]
    assert d["stoppingAt"] <= d["executionStoppedAt"] <= d["stoppedAt"]
    assert d["containers"][0]["exitCode"] == 143
    # Stopping again is harmless; the task stays visible for an hour, then goes.
    ecs.stop_task(cluster="prod", task=task["taskArn"].rsplit("/", 1)[-1])
    sim.clock.advance(3600)
    assert ecs.describe_tasks(cluster="prod", tasks=[task["taskArn"]])["failures"][0][
        "reason"] == "MISSING"


def test_stop_during_provisioning_never_provisions_storage(sim, td):
    [task] = run(sim, td, settle=False)
    before = len(sim.audit_trail)
    sim.client("ecs").stop_task(cluster="prod", task=task["taskArn"])
    sim.fargate.settle()
    d = describe(sim, [task["taskArn"]])[0]
    assert d["lastStatus"] == "STOPPED" and "startedAt" not in d
    assert sim.fargate.tasks() == []
    assert [r["eventName"] for r in sim.audit_trail[before:]
            if r["eventSource"] == "kms.amazonaws.com"] == []


def test_timings_are_configurable(sim, td):
    sim.ecs.timings = TaskTimings(provisioning=1, pending=0, pull=0, activating=0)
    [task] = run(sim, td, settle=False)
    sim.clock.advance(1)
    assert describe(sim, [task["taskArn"]])[0]["lastStatus"] == "RUNNING"


@pytest.mark.parametrize("count", [0, 11, -1])
def test_count_out_of_range_creates_nothing(sim, td, count):
    ecs = sim.client("ecs")
    with pytest.raises(errors.InvalidParameterException, match="between 1 and 10"):
        ecs.run_task(cluster="prod", taskDefinition=td, launchType="FARGATE",
                     networkConfiguration=NET, count=count)
    assert ecs.list_tasks(cluster="prod")["taskArns"] == []
    assert sim.ecs.all_tasks() == []


def test_run_ten_tasks(sim, td):
    tasks = run(sim, td, count=10)
    assert {t["lastStatus"] for t in tasks} == {"RUNNING"}
    assert len(sim.client("ecs").list_tasks(cluster="prod")["taskArns"]) == 10


@pytest.mark.parametrize(
    ("extra", "error", "message"),
    [({"networkConfiguration": None}, errors.InvalidParameterException,
      "Network Configuration must be provided"),
     ({"networkConfiguration": {"awsvpcConfiguration": {"subnets": []}}},
      errors.InvalidParameterException, "subnets"),
     ({"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["bogus"]}}},
      errors.InvalidParameterException, "bogus"),
     ({"platformVersion": "1.9.0"}, errors.PlatformUnknownException, "1.9.0"),
     ({"platformVersion": "1.3.0",
       "overrides": {"ephemeralStorage": {"sizeInGiB": 50}}},
      errors.PlatformTaskDefinitionIncompatibilityException, "ephemeralStorage"),
     ({"overrides": {"ephemeralStorage": {"sizeInGiB": 201}}},
      errors.InvalidParameterException, "between 21 and 200"),
     ({"overrides": {"ephemeralStorage": {"sizeInGiB": 20}}},
      errors.InvalidParameterException, "between 21 and 200"),
     ({"overrides": {"containerOverrides": [{"name": "ghost"}]}},
      errors.InvalidParameterException, "ghost"),
     ({"overrides": {"cpu": "256", "memory": "4096"}},
      errors.InvalidParameterException, "No Fargate configuration"),
     ({"launchType": "EC2"}, errors.InvalidParameterException, "launch_type EC2"),
     ({"launchType": None}, errors.InvalidParameterException, "launch_type EC2"),
     ({"capacityProviderStrategy": [{"capacityProvider": "FARGATE"}]},
      errors.InvalidParameterException, "both a launch type"),
     ({"taskDefinition": "ghost"}, errors.ClientException, "TaskDefinition not found"),
     ({"cluster": "ghost"}, errors.ClusterNotFoundException, "Cluster not found")],
)
def test_malformed_run_task_creates_nothing(sim, td, extra, error, message):
    params = {"cluster": "prod", "taskDefinition": td, "launchType": "FARGATE",
              "networkConfiguration": NET}
    params.update(extra)
    params = {k: v for k, v in params.items() if v is not None}
    with pytest.raises(error) as info:
        sim.client("ecs").run_task(**params)
    assert message in f"{info.value.message} {info.value.explanation}"
    assert sim.ecs.all_tasks() == []


def test_windows_runs_on_1_0_0_only(sim):
    make_cluster(sim)
    win = register_windows(sim)
    ecs = sim.client("ecs")
    [task] = run(sim, win, platformVersion="LATEST")
    assert task["platformVersion"] == "1.0.0"
    assert task["platformFamily"] == "WINDOWS_SERVER_2022_CORE"
    with pytest.raises(errors.PlatformUnknownException) as info:
        ecs.run_task(cluster="prod", taskDefinition=win, launchType="FARGATE",
                     networkConfiguration=NET, platformVersion="1.4.0")
    assert info.value.message == "The specified platform does not exist."
    assert "WINDOWS" in (info.value.explanation or "")


def test_legacy_platform_has_no_fargate_ephemeral_storage_field(sim, td):
    [task] = run(sim, td, platformVersion="1.3.0")
    assert task["platformVersion"] == "1.3.0" and task["lastStatus"] == "RUNNING"
    assert "fargateEphemeralStorage" not in task
    attrs = {a["name"]: a["value"] for a in task["attributes"]}
    assert attrs["fargate-sim.ephemeral-storage.encryption"] == "NONE_DOCUMENTED"


@pytest.mark.parametrize(
    ("params", "needs"),
    [({"runtimePlatform": {"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"}},
      "ARM64"),
     ({"cpu": "8 vCPU", "memory": "16 GB"}, "8192"),
     ({"ephemeralStorage": {"sizeInGiB": 30}}, "ephemeralStorage")],
)
def test_features_of_1_4_0_are_refused_on_1_3_0(sim, params, needs):
    make_cluster(sim)
    arn = register(sim, **params)
    with pytest.raises(errors.PlatformTaskDefinitionIncompatibilityException) as info:
        sim.client("ecs").run_task(cluster="prod", taskDefinition=arn, launchType="FARGATE",
                                   networkConfiguration=NET, platformVersion="1.3.0")
    assert info.value.message == "One or more of the requested capabilities are not supported."
    assert needs in (info.value.explanation or "")


def test_ephemeral_storage_override_and_definition_size(sim):
    make_cluster(sim)
    td = register(sim, ephemeralStorage={"sizeInGiB": 40})
    [a] = run(sim, td)
    [b] = run(sim, td, overrides={"ephemeralStorage": {"sizeInGiB": 150}})
    assert a["fargateEphemeralStorage"] == {"sizeInGiB": 40}
    assert a["ephemeralStorage"] == {"sizeInGiB": 40}
    assert b["fargateEphemeralStorage"]["sizeInGiB"] == 150
    assert b["overrides"]["ephemeralStorage"] == {"sizeInGiB": 150}


def test_inactive_task_definition_cannot_run(sim, td):
    sim.client("ecs").deregister_task_definition(taskDefinition=td)
    # AWS answers RunTask with InvalidParameterException "TaskDefinition is inactive".
    with pytest.raises(errors.InvalidParameterException, match="inactive") as info:
        run(sim, td)
    assert info.value.message == "TaskDefinition is inactive"
    assert "deregistered" in (info.value.explanation or "")


def test_capacity_provider_strategy(sim):
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="cp", capacityProviders=["FARGATE", "FARGATE_SPOT"],
                       defaultCapacityProviderStrategy=[
                           {"capacityProvider": "FARGATE_SPOT", "weight": 1}])
    td = register(sim)
    [task] = ecs.run_task(cluster="cp", taskDefinition=td, networkConfiguration=NET)["tasks"]
    assert task["capacityProviderName"] == "FARGATE_SPOT"
    with pytest.raises(errors.InvalidParameterException, match="not associated"):
        make_cluster(sim, "plain")
        ecs.run_task(cluster="plain", taskDefinition=td, networkConfiguration=NET,
                     capacityProviderStrategy=[{"capacityProvider": "FARGATE"}])


def test_list_tasks_filters(sim, td):
    other = register(sim, "other")
    a = run(sim, td, count=2, startedBy="me")
    b = run(sim, other)
    ecs = sim.client("ecs")
    arns = lambda **kw: set(ecs.list_tasks(cluster="prod", **kw)["taskArns"])  # noqa: E731
    assert arns() == {t["taskArn"] for t in a + b}
    assert arns(family="other") == {b[0]["taskArn"]}
    assert arns(startedBy="me") == {t["taskArn"] for t in a}
    assert arns(launchType="EC2") == set()
    ecs.stop_task(cluster="prod", task=b[0]["taskArn"])
    assert arns(desiredStatus="STOPPED") == {b[0]["taskArn"]}
    page = ecs.list_tasks(cluster="prod", maxResults=1)
    assert len(page["taskArns"]) == 1 and page["nextToken"]


def test_list_tasks_of_an_unknown_service_is_service_not_found(sim, td):
    # ListTasks names ServiceNotFoundException among its errors; AWS answers "Service not
    # found." for a serviceName the cluster does not have.
    ecs = sim.client("ecs")
    with pytest.raises(errors.ServiceNotFoundException, match="Service not found"):
        ecs.list_tasks(cluster="prod", serviceName="nope")


def test_describe_tasks_needs_at_least_one_task(sim, td):
    with pytest.raises(errors.InvalidParameterException, match="Tasks cannot be empty"):
        sim.client("ecs").describe_tasks(cluster="prod", tasks=[])


def test_stop_task_deletes_the_tasks_tags(sim, td):
    # StopTask: "Any tags associated with the task will be deleted."
    [task] = run(sim, td, tags=[{"key": "k", "value": "v"}])
    ecs = sim.client("ecs")
    out = ecs.stop_task(cluster="prod", task=task["taskArn"])["task"]
    assert out["tags"] == []
    again = ecs.describe_tasks(cluster="prod", tasks=[task["taskArn"]], include=["TAGS"])
    assert again["tasks"][0]["tags"] == []


def test_run_task_refuses_propagate_tags_service(sim, td):
    # RunTask propagateTags: "An error will be received if you specify the SERVICE option
    # when running a task."
    with pytest.raises(errors.InvalidParameterException, match="SERVICE"):
        run(sim, td, propagateTags="SERVICE")
    assert sim.client("ecs").list_tasks(cluster="prod")["taskArns"] == []


def test_execute_command_needs_a_task_role(sim, td):
    # RunTask enableExecuteCommand: "If true, then the task definition must have a task
    # role, or you must provide one as an override."
    with pytest.raises(errors.InvalidParameterException, match="valid task role"):
        run(sim, td, enableExecuteCommand=True)
    role = f"arn:aws:iam::{ACCOUNT}:role/app"
    [task] = run(sim, td, enableExecuteCommand=True, overrides={"taskRoleArn": role})
    assert task["enableExecuteCommand"] is True
    with_role = register(sim, "withrole", taskRoleArn=role)
    [task] = run(sim, with_role, enableExecuteCommand=True)
    assert task["enableExecuteCommand"] is True


def test_eni_attachment_details(sim, td):
    [task] = run(sim, td)
    [eni] = task["attachments"]
    details = {d["name"]: d["value"] for d in eni["details"]}
    assert set(details) == {"subnetId", "networkInterfaceId", "macAddress", "privateDnsName",
                            "privateIPv4Address"}
    assert details["privateDnsName"] == (
        "ip-" + details["privateIPv4Address"].replace(".", "-") + ".us-west-2.compute.internal")
    assert len(details["macAddress"].split(":")) == 6


def test_describe_tasks_by_id_and_missing(sim, td):
    [task] = run(sim, td, tags=[{"key": "k", "value": "v"}])
    ecs = sim.client("ecs")
    task_id = task["taskArn"].rsplit("/", 1)[-1]
    out = ecs.describe_tasks(cluster="prod", tasks=[task_id, "f" * 32], include=["TAGS"])
    assert out["tasks"][0]["tags"] == [{"key": "k", "value": "v"}]
    assert out["failures"] == [{
        "arn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:task/prod/{'f' * 32}", "reason": "MISSING"}]
    assert ecs.describe_tasks(cluster="prod", tasks=[task_id])["tasks"][0]["tags"] == []


def test_stop_unknown_task(sim, td):
    with pytest.raises(errors.InvalidParameterException, match="not found"):
        sim.client("ecs").stop_task(cluster="prod", task="0" * 32)


def test_start_task_has_no_container_instances_on_fargate(sim, td):
    out = sim.client("ecs").start_task(cluster="prod", taskDefinition=td,
                                       containerInstances=["abc"])
    assert out["tasks"] == []
    assert out["failures"][0]["reason"] == "MISSING"
    assert "Fargate" in out["failures"][0]["detail"]


def test_propagated_task_definition_tags(sim):
    make_cluster(sim)
    td = register(sim, tags=[{"key": "team", "value": "x"}])
    [task] = sim.client("ecs").run_task(
        cluster="prod", taskDefinition=td, launchType="FARGATE", networkConfiguration=NET,
        propagateTags="TASK_DEFINITION")["tasks"]
    assert task["tags"] == [{"key": "team", "value": "x"}]


def test_launch_rate_bucket_throttles_run_task(sim, td):
    ecs = sim.client("ecs")
    launched = 0
    with pytest.raises(errors.ThrottlingException, match="Rate exceeded"):
        for _ in range(20):
            ecs.run_task(cluster="prod", taskDefinition=td, launchType="FARGATE",
                         networkConfiguration=NET, count=10)
            launched += 10
            sim.clock.advance(0.01)
    assert launched == 100  # the burst
    assert len(sim.ecs.all_tasks()) == 100
    sim.clock.advance(1)  # 20 tokens a second
    ecs.run_task(cluster="prod", taskDefinition=td, launchType="FARGATE",
                 networkConfiguration=NET, count=10)


def test_run_task_call_rate_is_limited(sim, td):
    ecs = sim.client("ecs")
    calls = 0
    with pytest.raises(errors.ThrottlingException):
        for _ in range(25):
            ecs.run_task(cluster="prod", taskDefinition=td, launchType="FARGATE",
                         networkConfiguration=NET)
            calls += 1
    assert calls == 20


def test_quotas_off_allows_bursts():
    sim = Simulation(quotas=False, strict_shapes=True)
    make_cluster(sim)
    td = register(sim)
    ecs = sim.client("ecs")
    for _ in range(30):
        ecs.run_task(cluster="prod", taskDefinition=td, launchType="FARGATE",
                     networkConfiguration=NET, count=10)
    assert len(sim.ecs.all_tasks()) == 300


def test_task_keeps_the_key_of_its_launch(sim):
    k1, k2 = make_key(sim), make_key(sim)
    make_cluster(sim, key=k1)
    td = register(sim)
    [task] = run(sim, td, settle=False)
    sim.client("ecs").update_cluster(cluster="prod", configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": k2}})
    sim.fargate.settle()
    d = describe(sim, [task["taskArn"]])[0]
    assert d["lastStatus"] == "RUNNING"
    assert d["fargateEphemeralStorage"]["kmsKeyId"] == k1


def test_run_task_is_authorised_against_the_task_definition(sim, td):
    from tests.ecs.helpers import allow, make_role

    nobody = make_role(sim, "Nobody")
    runner = make_role(sim, "Runner", allow("ecs:RunTask", td,
                                            StringEquals={"ecs:cluster": sim.client("ecs")
                                                          .describe_clusters(clusters=["prod"])
                                                          ["clusters"][0]["clusterArn"]}))
    params = {"cluster": "prod", "taskDefinition": td, "launchType": "FARGATE",
              "networkConfiguration": NET}
    with pytest.raises(errors.AccessDeniedException, match="ecs:RunTask"):
        sim.client("ecs", principal=nobody).run_task(**params)
    assert sim.ecs.all_tasks() == []
    [task] = sim.client("ecs", principal=runner).run_task(**params)["tasks"]
    assert task["lastStatus"] == "PROVISIONING"
    with pytest.raises(errors.AccessDeniedException, match="ecs:StopTask"):
        sim.client("ecs", principal=runner).stop_task(cluster="prod", task=task["taskArn"])


def test_describe_limits_are_refused_in_ecs_words(sim):
    """DescribeTasks takes 100 tasks, DescribeServices 10 services; ECS's texts as recorded
    (https://github.com/gchq/sleeper/issues/555 quotes the first)."""
    ecs = sim.client("ecs")
    make_cluster(sim)
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.describe_tasks(cluster=CLUSTER, tasks=[f"t{i}" for i in range(101)])
    assert info.value.message == "taskIds can have at most 100 items."
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.describe_services(cluster=CLUSTER, services=[f"s{i}" for i in range(11)])
    assert info.value.message == "service names can have at most 10 items."


def test_a_task_lists_a_container_override_per_container_by_name(sim):
    """As the CLI's run-task example shows: ``"containerOverrides": [{"name": "sleep"}]`` for
    a call without overrides; an override given replaces its container's entry."""
    make_cluster(sim)
    second = {"name": "side", "image": "busybox", "essential": False}
    td = register(sim, containerDefinitions=[
        {"name": "app", "image": "busybox", "essential": True}, second])
    plain = run(sim, td, settle=False)[0]
    assert plain["overrides"] == {"containerOverrides": [{"name": "app"}, {"name": "side"}],
                                  "inferenceAcceleratorOverrides": []}
    given = run(sim, td, overrides={"containerOverrides": [
        {"name": "side", "command": ["true"]}]})[0]
    assert given["overrides"]["containerOverrides"] == [
        {"name": "app"}, {"name": "side", "command": ["true"]}]


def test_list_tasks_walk_misses_no_running_task_when_one_stops_between_pages(sim, td):
    """A script watching a deployment pages ListTasks while tasks stop: the next page starts
    after the last task returned, not at an offset that the stopped task moved."""
    ecs = sim.client("ecs")
    running = {t["taskArn"] for t in run(sim, td, count=6)}
    page = ecs.list_tasks(cluster="prod", maxResults=2)
    seen = list(page["taskArns"])
    ecs.stop_task(cluster="prod", task=seen[0])
    sim.clock.advance(120)  # stopped, out of the RUNNING list
    while "nextToken" in page:
        page = ecs.list_tasks(cluster="prod", maxResults=2, nextToken=page["nextToken"])
        seen += page["taskArns"]
    assert running - {seen[0]} <= set(seen) and len(seen) == len(set(seen))


def test_true_as_a_count_is_refused_as_aws_refuses_it(sim, td):
    """botocore sends ``count=True`` as JSON true; AWS's server does not read it as 1."""
    ecs = sim.client("ecs")
    with pytest.raises(errors.ClientError) as info:
        ecs.run_task(cluster="prod", taskDefinition=td, launchType="FARGATE",
                     networkConfiguration=NET, count=True)
    assert info.value.code == "SerializationException"
    assert "class java.lang.Boolean can not be converted to an Integer" in str(info.value)
    assert ecs.list_tasks(cluster="prod")["taskArns"] == []
