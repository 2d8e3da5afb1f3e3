"""The admin API and the clock that follows wall time."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from simulator.api import Authenticator, serve
from tests.api.conftest import client, make_sim


def _admin(server, method, path, body=None):
    req = urllib.request.Request(f"{server.url}/_fargate-sim/{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _story(server):
    """A cluster with the root's key and one task run; returns (ecs client, task ARN)."""
    kms, ecs = client(server, "kms"), client(server, "ecs")
    from simulator.iam.seed import seed_key_policy

    key = kms.create_key(Policy=json.dumps(seed_key_policy("111122223333", "web")))
    ecs.create_cluster(clusterName="web", configuration={"managedStorageConfiguration": {
        "fargateEphemeralStorageKmsKeyId": key["KeyMetadata"]["Arn"]}})
    ecs.register_task_definition(family="app", cpu="256", memory="512", networkMode="awsvpc",
                                 requiresCompatibilities=["FARGATE"], containerDefinitions=[
                                     {"name": "app", "image": "busybox", "essential": True}])
    task = ecs.run_task(cluster="web", taskDefinition="app", launchType="FARGATE",
                        networkConfiguration={"awsvpcConfiguration": {
                            "subnets": ["subnet-12345678"]}})["tasks"][0]
    return ecs, task["taskArn"]


def _status(ecs, arn):
    return ecs.describe_tasks(cluster="web", tasks=[arn])["tasks"][0]["lastStatus"]


def test_the_manual_clock_moves_only_by_the_admin_api(server):
    ecs, arn = _story(server)
    before = _admin(server, "GET", "status")["now"]
    assert _status(ecs, arn) == "PROVISIONING"
    assert _admin(server, "GET", "status")["now"] == before
    _admin(server, "POST", "clock/advance", {"seconds": 60})
    assert _status(ecs, arn) == "RUNNING"


def test_settle_runs_tasks_to_their_desired_state(server):
    ecs, arn = _story(server)
    _admin(server, "POST", "settle")
    assert _status(ecs, arn) == "RUNNING"


def test_the_wall_clock_starts_tasks_between_requests():
    srv = serve(make_sim(), auth=Authenticator(), speed=1000.0)
    try:
        ecs, arn = _story(srv)
        ecs_service = srv.sim.service("ecs")
        for _ in range(600):  # a bound for a busy machine, not a measurement
            with srv.endpoint.lock:
                if ecs_service.task_by_arn(arn).last_status == "RUNNING":
                    break
            time.sleep(0.05)
        # Without any request in between, the ticker moved the clock and the task started.
        assert _status(ecs, arn) == "RUNNING"
    finally:
        srv.shutdown()
        srv.server_close()


def test_reset_forgets_everything(server):
    _story(server)
    _admin(server, "POST", "reset")
    assert client(server, "ecs").list_clusters()["clusterArns"] == []


def test_audit_reads_the_trail_from_an_index(server):
    _story(server)
    names = [r["eventName"] for r in _admin(server, "GET", "audit")["records"]]
    page = _admin(server, "GET", "audit?since=1&limit=2")
    assert [r["eventName"] for r in page["records"]] == names[1:3]
    assert page["next"] == 3 and page["total"] == len(names)


@pytest.mark.parametrize("path,body,status", [
    ("clock/advance", {"seconds": -1}, 400), ("clock/advance", {"seconds": "x"}, 400),
    ("nothing", {}, 404)])
def test_bad_admin_requests_are_refused(server, path, body, status):
    with pytest.raises(urllib.error.HTTPError) as info:
        _admin(server, "POST", path, body)
    assert info.value.code == status
    assert json.loads(info.value.read())["__type"]


def test_the_admin_command_calls_the_api(server):
    out = subprocess.run([sys.executable, "-m", "simulator", "admin", "--endpoint", server.url,
                          "advance", "30"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "now" in json.loads(out.stdout)
    bad = subprocess.run([sys.executable, "-m", "simulator", "admin", "--endpoint",
                          "http://127.0.0.1:9", "status"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "cannot reach" in bad.stderr


def test_requests_within_one_clock_step_share_an_instant():
    from simulator.api.wallclock import STEP_SECONDS, WallClock
    from simulator.clock import SimClock

    clock = SimClock()
    wall = WallClock(clock, speed=1.0)
    start = clock.time()
    wall._wall0 -= STEP_SECONDS / 2  # half a step of wall time has passed
    wall.sync()
    assert clock.time() == start
    wall._wall0 -= STEP_SECONDS  # now more than a step
    wall.sync()
    assert clock.time() >= start + STEP_SECONDS


def test_a_fast_wall_clock_stops_before_year_9999_instead_of_failing():
    from simulator.api.wallclock import WallClock
    from simulator.clock import LAST_INSTANT, SimClock

    clock = SimClock()
    wall = WallClock(clock, speed=1e12)
    wall._wall0 -= 1000.0  # 1e15 simulated seconds: far past what a datetime holds
    wall.sync()
    assert clock.time() == LAST_INSTANT - 1.0
    assert clock.now().year == 9999
    wall.sync()  # and stays there
    assert clock.time() == LAST_INSTANT - 1.0
