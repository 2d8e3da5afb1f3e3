"""Task definitions: Fargate sizes, OS families, ephemeral storage range, revisions."""

from __future__ import annotations

import pytest

from simulator import errors
from simulator.ecs import sizes
from tests.ecs.helpers import ACCOUNT, CONTAINER, make_cluster, register, run

ALL_PAIRS = [(cpu, mem) for cpu, mems in sizes.FARGATE_SIZES.items() for mem in mems]


def test_the_size_table_matches_aws():
    assert sizes.FARGATE_SIZES[256] == (512, 1024, 2048)
    assert sizes.FARGATE_SIZES[512] == (1024, 2048, 3072, 4096)
    assert sizes.FARGATE_SIZES[1024] == tuple(range(2048, 8193, 1024))
    assert sizes.FARGATE_SIZES[2048] == tuple(range(4096, 16385, 1024))
    assert sizes.FARGATE_SIZES[4096] == tuple(range(8192, 30721, 1024))
    assert sizes.FARGATE_SIZES[8192] == tuple(range(16384, 61441, 4096))
    assert sizes.FARGATE_SIZES[16384] == tuple(range(32768, 122881, 8192))
    assert len(ALL_PAIRS) == 3 + 4 + 7 + 13 + 23 + 12 + 12


@pytest.mark.parametrize(("cpu", "memory"), ALL_PAIRS)
def test_every_valid_fargate_size_registers(sim, cpu, memory):
    arn = register(sim, cpu=str(cpu), memory=str(memory))
    td = sim.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert (td["cpu"], td["memory"]) == (str(cpu), str(memory))
    assert td["compatibilities"] == ["EC2", "FARGATE"]


@pytest.mark.parametrize(
    ("cpu", "memory"),
    [("256", "4096"), ("512", "512"), ("1024", "9216"), ("4096", "31744"),
     ("8192", "18432"), ("16384", "36864"), ("128", "512"), ("32768", "65536")],
)
def test_invalid_fargate_sizes_are_refused(sim, cpu, memory):
    with pytest.raises(errors.ClientException, match="No Fargate configuration exists"):
        register(sim, cpu=cpu, memory=memory)
    assert sim.client("ecs").list_task_definitions()["taskDefinitionArns"] == []


@pytest.mark.parametrize(
    ("cpu", "memory", "units"),
    [("1 vCPU", "2 GB", ("1024", "2048")), (".25 vCPU", "0.5GB", ("256", "512")),
     ("0.5 vcpu", "1 GB", ("512", "1024")), ("4 vCPU", "30GB", ("4096", "30720")),
     ("16 vCPU", "120 GB", ("16384", "122880")), ("2048", "4096 MiB", ("2048", "4096"))],
)
def test_string_forms_are_normalised(sim, cpu, memory, units):
    arn = register(sim, cpu=cpu, memory=memory)
    td = sim.client("ecs").describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert (td["cpu"], td["memory"]) == units


@pytest.mark.parametrize(("cpu", "memory"), [("one vCPU", "2 GB"), ("1024", "lots"),
                                             ("0.3 vCPU", "1 GB"), ("-1", "512")])
def test_malformed_sizes_are_refused(sim, cpu, memory):
    with pytest.raises(errors.ClientException, match=r"Invalid '(cpu|memory)'"):
        register(sim, cpu=cpu, memory=memory)


def test_registration_shape_and_defaults(sim):
    ecs = sim.client("ecs")
    out = ecs.register_task_definition(
        family="web", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
        cpu="256", memory="512", containerDefinitions=[{"name": "app", "image": "nginx"}],
        ephemeralStorage={"sizeInGiB": 50}, tags=[{"key": "k", "value": "v"}],
        runtimePlatform={"operatingSystemFamily": "LINUX", "cpuArchitecture": "ARM64"},
    )
    td = out["taskDefinition"]
    assert td["taskDefinitionArn"] == f"arn:aws:ecs:us-west-2:{ACCOUNT}:task-definition/web:1"
    assert td["revision"] == 1 and td["status"] == "ACTIVE"
    assert td["containerDefinitions"][0]["essential"] is True
    assert td["ephemeralStorage"] == {"sizeInGiB": 50}
    assert td["registeredBy"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert {"name": "ecs.capability.task-eni"} in td["requiresAttributes"]
    assert out["tags"] == [{"key": "k", "value": "v"}]


@pytest.mark.parametrize("size", [20, 201, 0, -5])
def test_ephemeral_storage_outside_21_to_200_is_refused(sim, size):
    with pytest.raises(errors.ClientException, match="between 21 and 200"):
        register(sim, ephemeralStorage={"sizeInGiB": size})


@pytest.mark.parametrize("size", [21, 200])
def test_ephemeral_storage_bounds_are_accepted(sim, size):
    register(sim, ephemeralStorage={"sizeInGiB": size})


@pytest.mark.parametrize(
    ("params", "message"),
    [({"networkMode": "bridge"}, "awsvpc"),
     ({"cpu": None}, "'cpu' be defined"),
     ({"memory": None}, "'memory' be defined"),
     ({"containerDefinitions": []}, "cannot be empty"),
     ({"containerDefinitions": [{"name": "a"}]}, "image"),
     ({"containerDefinitions": [{"image": "x"}]}, "name"),
     ({"containerDefinitions": [dict(CONTAINER), dict(CONTAINER)]}, "unique"),
     ({"containerDefinitions": [dict(CONTAINER, essential=False)]}, "essential"),
     ({"family": "bad family"}, "Family"),
     ({"runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2016_FULL"}}, "2016"),
     ({"cpu": "256", "memory": "512",
       "runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2019_CORE"}}, "Windows"),
     ({"cpu": "1024", "memory": "2048",
       "runtimePlatform": {"operatingSystemFamily": "WINDOWS_SERVER_2019_CORE",
                           "cpuArchitecture": "ARM64"}}, "ARM64")],
)
def test_malformed_definitions_are_refused(sim, params, message):
    base = {"family": "app", "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "256", "memory": "512", "containerDefinitions": [dict(CONTAINER)]}
    base.update(params)
    base = {k: v for k, v in base.items() if v is not None}
    with pytest.raises((errors.ClientException, errors.InvalidParameterException)) as info:
        sim.client("ecs").register_task_definition(**base)
    assert message in info.value.describe()  # AWS's message, or the simulator's explanation
    assert sim.client("ecs").list_task_definitions()["taskDefinitionArns"] == []


@pytest.mark.parametrize("os_family", ["WINDOWS_SERVER_2019_FULL", "WINDOWS_SERVER_2019_CORE",
                                       "WINDOWS_SERVER_2022_FULL", "WINDOWS_SERVER_2022_CORE",
                                       "WINDOWS_SERVER_2025_CORE", "WINDOWS_SERVER_2025_FULL"])
def test_windows_families_register(sim, os_family):
    register(sim, cpu="2 vCPU", memory="8 GB",
             runtimePlatform={"operatingSystemFamily": os_family, "cpuArchitecture": "X86_64"})


def test_revisions_describe_list_deregister(sim):
    ecs = sim.client("ecs")
    a1, a2 = register(sim, "alpha"), register(sim, "alpha")
    b1 = register(sim, "beta")
    assert a2.endswith(":2")
    latest = ecs.describe_task_definition(taskDefinition="alpha")["taskDefinition"]
    assert latest["taskDefinitionArn"] == a2
    assert ecs.describe_task_definition(taskDefinition="alpha:1")["taskDefinition"][
        "taskDefinitionArn"] == a1
    assert ecs.describe_task_definition(taskDefinition=b1)["taskDefinition"]["family"] == "beta"
    assert ecs.list_task_definitions()["taskDefinitionArns"] == [a1, a2, b1]
    assert ecs.list_task_definitions(familyPrefix="alpha", sort="DESC")[
        "taskDefinitionArns"] == [a2, a1]
    out = ecs.deregister_task_definition(taskDefinition=a2)["taskDefinition"]
    assert out["status"] == "INACTIVE" and "deregisteredAt" in out
    assert ecs.describe_task_definition(taskDefinition="alpha")["taskDefinition"][
        "taskDefinitionArn"] == a1
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == [a2]
    page = ecs.list_task_definitions(maxResults=1)
    assert len(page["taskDefinitionArns"]) == 1 and page["nextToken"]
    with pytest.raises(errors.ClientException):
        ecs.describe_task_definition(taskDefinition="alpha:9")
    with pytest.raises(errors.ClientException):
        ecs.describe_task_definition(taskDefinition="nope")
    with pytest.raises(errors.ClientException):
        ecs.deregister_task_definition(taskDefinition="alpha")


def test_describe_task_definition_tags(sim):
    ecs = sim.client("ecs")
    arn = register(sim, tags=[{"key": "a", "value": "b"}])
    assert "tags" not in ecs.describe_task_definition(taskDefinition=arn)
    out = ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
    assert out["tags"] == [{"key": "a", "value": "b"}]


def test_parse_helpers():
    assert sizes.parse_cpu("1 vCPU") == 1024
    assert sizes.parse_cpu(512) == 512
    assert sizes.parse_memory("0.5 GB") == 512
    assert sizes.valid_memory(256) == (512, 1024, 2048)
    assert sizes.valid_memory(300) == ()


def test_list_task_definition_families(sim):
    # ListTaskDefinitionFamilies: both ACTIVE and INACTIVE families by default; ACTIVE keeps
    # families with an ACTIVE revision, INACTIVE those without; familyPrefix is a prefix.
    ecs = sim.client("ecs")
    register(sim, "web")
    register(sim, "worker")
    gone = register(sim, "webhook")
    ecs.deregister_task_definition(taskDefinition=gone)
    families = lambda **kw: ecs.list_task_definition_families(**kw)["families"]  # noqa: E731
    assert families() == ["web", "webhook", "worker"]
    assert families(status="ACTIVE") == ["web", "worker"]
    assert families(status="INACTIVE") == ["webhook"]
    assert families(familyPrefix="web") == ["web", "webhook"]
    page = ecs.list_task_definition_families(maxResults=2)
    assert page["families"] == ["web", "webhook"] and page["nextToken"]
    rest = ecs.list_task_definition_families(maxResults=2, nextToken=page["nextToken"])
    assert rest["families"] == ["worker"] and "nextToken" not in rest


@pytest.mark.parametrize(("containers", "message", "why"), [
    ([], "Container list cannot be empty.", None),
    ([{"image": "busybox"}], "Container.name should not be null or empty.",
     "containerDefinitions[0]"),
    ([{"name": "app"}], "Container.image should not be null or empty.", "'app'"),
    ([{"name": "app", "image": "a"}, {"name": "app", "image": "b"}],
     "Container names must be unique within a Task Definition.", "'app'"),
])
def test_container_list_refusals_in_ecs_words(sim, containers, message, why):
    with pytest.raises(errors.ClientException) as info:
        sim.client("ecs").register_task_definition(family="f", containerDefinitions=containers)
    assert info.value.message == message
    if why:
        assert why in (info.value.explanation or "")
    assert sim.client("ecs").list_task_definitions()["taskDefinitionArns"] == []


def _delete(ecs, *refs):
    out = ecs.delete_task_definitions(taskDefinitions=list(refs))
    return out["taskDefinitions"], out["failures"]


def test_delete_task_definitions_refuses_active_unknown_and_revisionless_ones(sim):
    ecs = sim.client("ecs")
    arn = register(sim)
    deleted, failures = _delete(ecs, arn, "app", "nope:1")
    assert deleted == []
    # ECS's reasons, as moto's tests record them
    assert failures == [
        {"arn": arn, "reason": "The specified task definition is still in ACTIVE status. "
                               "Please deregister the target and try again."},
        {"arn": "app", "reason": "The specified task definition identifier is invalid. "
                                 "Specify a valid name or ARN and try again."},
        {"arn": "nope:1", "reason": "The specified task definition does not exist. Specify a "
                                    "valid account, family, revision and try again."},
    ]
    assert ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]["status"] == \
        "ACTIVE"


def test_delete_task_definitions_takes_one_to_ten_and_a_revision_named_twice_once(sim):
    ecs = sim.client("ecs")
    with pytest.raises(errors.InvalidParameterException, match="cannot exceed 10"):
        ecs.delete_task_definitions(taskDefinitions=[f"app:{n}" for n in range(1, 12)])
    with pytest.raises(errors.InvalidParameterException, match="greater than 0"):
        ecs.delete_task_definitions(taskDefinitions=[])
    arn = register(sim)
    ecs.deregister_task_definition(taskDefinition=arn)
    deleted, failures = _delete(ecs, "app:1", arn)
    assert failures == [] and [d["taskDefinitionArn"] for d in deleted] == [arn]


def test_a_deleted_revision_is_gone_at_once_when_nothing_uses_it(sim):
    """The simulator deletes it as soon as nothing uses it: the answer shows it
    DELETE_IN_PROGRESS, the next read finds it gone (AWS takes a while; no figure is
    published)."""
    ecs = sim.client("ecs")
    first, second = register(sim), register(sim)
    ecs.deregister_task_definition(taskDefinition=first)
    deleted, failures = _delete(ecs, "app:1")
    assert failures == [] and [d["status"] for d in deleted] == ["DELETE_IN_PROGRESS"]
    assert deleted[0]["deleteRequestedAt"] == sim.clock.now()
    with pytest.raises(errors.ClientException, match="Unable to describe task definition"):
        ecs.describe_task_definition(taskDefinition=first)
    assert ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"] == []
    assert ecs.list_task_definitions(status="DELETE_IN_PROGRESS")["taskDefinitionArns"] == []
    assert ecs.list_task_definitions()["taskDefinitionArns"] == [second]
    # the revision number is not used again
    assert register(sim).endswith(":3")
    ecs.deregister_task_definition(taskDefinition=second)
    ecs.deregister_task_definition(taskDefinition="app:3")
    _delete(ecs, second, "app:3")
    assert ecs.list_task_definition_families(status="ALL")["families"] == []


def test_a_deleted_revision_a_task_uses_runs_on_and_goes_when_the_task_stops(sim):
    ecs = sim.client("ecs")
    make_cluster(sim)
    arn = register(sim)
    task = run(sim, arn)[0]["taskArn"]
    ecs.deregister_task_definition(taskDefinition=arn)
    deleted, _ = _delete(ecs, arn)
    assert deleted[0]["status"] == "DELETE_IN_PROGRESS"
    shown = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
    assert shown["status"] == "DELETE_IN_PROGRESS"
    assert ecs.list_task_definitions(status="DELETE_IN_PROGRESS")["taskDefinitionArns"] == [arn]
    assert ecs.list_task_definition_families(status="INACTIVE")["families"] == ["app"]
    with pytest.raises(errors.InvalidParameterException) as info:
        run(sim, arn)
    assert info.value.message == "TaskDefinition is inactive"
    assert "DELETE_IN_PROGRESS" in info.value.explanation
    ecs.stop_task(cluster="prod", task=task)
    sim.fargate.settle()
    with pytest.raises(errors.ClientException):
        ecs.describe_task_definition(taskDefinition=arn)


def test_a_service_on_a_deleted_revision_still_scales_and_keeps_it(sim):
    ecs = sim.client("ecs")
    make_cluster(sim)
    arn = register(sim)
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=arn, desiredCount=1,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {
                           "subnets": ["subnet-0a1b2c3d4e5f60718"]}})
    sim.fargate.settle()
    ecs.deregister_task_definition(taskDefinition=arn)
    _delete(ecs, arn)
    # "Existing services that reference a DELETE_IN_PROGRESS task definition revision can still
    # scale up or down by modifying the service's desired count" (API_DeleteTaskDefinitions)
    ecs.update_service(cluster="prod", service="web", desiredCount=2)
    sim.fargate.settle()
    svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    assert svc["runningCount"] == 2 and svc["taskDefinition"] == arn
    with pytest.raises(errors.InvalidParameterException, match="TaskDefinition is inactive"):
        ecs.update_service(cluster="prod", service="web", taskDefinition=arn)
    ecs.delete_service(cluster="prod", service="web", force=True)
    sim.fargate.settle()
    with pytest.raises(errors.ClientException):
        ecs.describe_task_definition(taskDefinition=arn)
