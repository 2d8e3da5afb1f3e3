"""Platform retirement: the simulated date decides whether a Linux version still starts tasks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from simulator import Simulation, errors
from tests.ecs.helpers import ACCOUNT, make_cluster, register, run

# https://docs.aws.amazon.com/AmazonECS/latest/developerguide/platform-versions-retired.html
CASES = [
    ("1.3.0", datetime(2026, 6, 14, 23, 59, tzinfo=UTC), True),
    ("1.3.0", datetime(2026, 6, 15, tzinfo=UTC), False),
    ("1.3.0", datetime(2027, 1, 1, tzinfo=UTC), False),
    ("1.0.0", datetime(2020, 12, 13, tzinfo=UTC), True),
    ("1.0.0", datetime(2020, 12, 14, tzinfo=UTC), False),
    ("1.2.0", datetime(2025, 1, 1, tzinfo=UTC), False),
    ("1.4.0", datetime(2027, 1, 1, tzinfo=UTC), True),
    ("LATEST", datetime(2027, 1, 1, tzinfo=UTC), True),
]


@pytest.mark.parametrize(("version", "when", "starts"), CASES)
def test_run_task_on_a_linux_platform_at_a_date(version, when, starts):
    sim = Simulation(account_id=ACCOUNT, start_time=when, strict_shapes=True)
    make_cluster(sim)
    td = register(sim)
    if starts:
        [task] = run(sim, td, platformVersion=version)
        assert task["lastStatus"] == "RUNNING"
        return
    with pytest.raises(errors.PlatformUnknownException) as exc:
        run(sim, td, platformVersion=version)
    assert exc.value.message == "The specified platform does not exist."
    assert version in (exc.value.explanation or "")


def test_windows_1_0_0_is_not_the_retired_linux_1_0_0():
    sim = Simulation(account_id=ACCOUNT, start_time=datetime(2027, 1, 1, tzinfo=UTC))
    make_cluster(sim)
    td = register(sim, "win", "1024", "2048", runtimePlatform={
        "operatingSystemFamily": "WINDOWS_SERVER_2022_CORE", "cpuArchitecture": "X86_64"})
    [task] = run(sim, td, platformVersion="1.0.0")
    assert task["platformVersion"] == "1.0.0" and task["lastStatus"] == "RUNNING"


def test_a_service_on_a_retired_version_is_refused():
    sim = Simulation(account_id=ACCOUNT, start_time=datetime(2026, 7, 1, tzinfo=UTC))
    make_cluster(sim)
    with pytest.raises(errors.PlatformUnknownException):
        sim.client("ecs").create_service(
            cluster="prod", serviceName="web", taskDefinition=register(sim), desiredCount=1,
            launchType="FARGATE", platformVersion="1.3.0",
            networkConfiguration={"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}})


def test_running_1_3_0_tasks_are_terminated_on_the_published_date():
    sim = Simulation(account_id=ACCOUNT, start_time=datetime(2026, 6, 10, tzinfo=UTC))
    make_cluster(sim)
    [task] = run(sim, register(sim), platformVersion="1.3.0")
    assert task["lastStatus"] == "RUNNING"
    sim.clock.advance((datetime(2026, 6, 30, tzinfo=UTC) - sim.clock.now()).total_seconds())
    sim.fargate.settle()
    [task] = sim.client("ecs").describe_tasks(cluster="prod", tasks=[task["taskArn"]])["tasks"]
    assert task["lastStatus"] == "STOPPED" and task["stopCode"] == "TerminationNotice"
    assert "2026-06-30" in task["stoppedReason"]
    assert task["stoppedAt"] >= datetime(2026, 6, 30, tzinfo=UTC)


def test_settle_does_not_wait_for_the_termination_date():
    sim = Simulation(account_id=ACCOUNT, start_time=datetime(2026, 1, 1, tzinfo=UTC))
    make_cluster(sim)
    run(sim, register(sim), platformVersion="1.3.0")
    assert sim.clock.now() < datetime(2026, 1, 2, tzinfo=UTC)
