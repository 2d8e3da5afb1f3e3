"""Client tokens: a retried RunTask with the same token and parameters starts no new task."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulator import Simulation, errors
from tests.ecs.helpers import NET, make_cluster, register


@pytest.fixture
def sim():
    sim = Simulation(quotas=False, strict_shapes=True)
    make_cluster(sim)
    register(sim)
    return sim


def _run(sim, **extra):
    return sim.client("ecs").run_task(cluster="prod", taskDefinition="app",
                                      launchType="FARGATE", networkConfiguration=NET, **extra)


def _count(sim):
    return len(sim.client("ecs").list_tasks(cluster="prod")["taskArns"])


def test_same_token_same_parameters_returns_the_first_answer(sim):
    first = _run(sim, clientToken="tok-1")
    again = _run(sim, clientToken="tok-1")
    assert again["tasks"][0]["taskArn"] == first["tasks"][0]["taskArn"]
    assert _count(sim) == 1
    _run(sim, clientToken="tok-2")
    _run(sim)  # no token: always a new task
    assert _count(sim) == 3


def test_same_token_different_parameters_is_a_conflict(sim):
    _run(sim, clientToken="tok-1")
    with pytest.raises(errors.ClientError) as info:
        _run(sim, clientToken="tok-1", startedBy="someone-else")
    assert info.value.code == "ConflictException"
    assert _count(sim) == 1


def test_a_token_expires_after_24_hours(sim):
    _run(sim, clientToken="tok-1")
    sim.clock.advance(timedelta(hours=24, seconds=1).total_seconds())
    _run(sim, clientToken="tok-1")
    assert _count(sim) == 2


def test_another_caller_with_the_same_token_is_a_new_request_authorised_anew(sim):
    from tests.ecs.helpers import make_role

    _run(sim, clientToken="tok-1")
    stranger = make_role(sim, "Stranger")  # no policies: RunTask is denied
    with pytest.raises(errors.AccessDeniedException):
        sim.client("ecs", principal=stranger).run_task(
            cluster="prod", taskDefinition="app", launchType="FARGATE",
            networkConfiguration=NET, clientToken="tok-1")
