"""`fargate-sim serve` as a process: bad options, warnings, and a boto3 story across SIGKILL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from simulator.api import DEFAULT_ROOT_KEY
from simulator.cli.serve import _loopback
from tests.api.seed_story import run_app_task, seed_cluster
from tests.api.subprocess_server import ServerProcess

REPO = Path(__file__).resolve().parents[2]


def _serve(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "simulator", "serve", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("args,words", [
    (["--port", "-1"], "not a TCP port"),
    (["--port", "65536"], "not a TCP port"),
    (["--host", "no-such-host.invalid", "--port", "0"], "cannot listen on"),
    (["--speed", "-1"], "must be a number >= 0"),
    (["--speed", "nan"], "must be a number >= 0"),
    (["--speed", "inf"], "must be a number >= 0"),
    (["--root-key", "A:B", "--no-auth"], "contradict"),
])
def test_bad_addresses_get_one_clear_line_and_exit_2(tmp_path, args, words):
    out = _serve(*args, "--ephemeral", cwd=tmp_path)
    assert out.returncode == 2
    assert words in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_a_port_in_use_gets_one_clear_line_and_exit_2(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        out = _serve("--port", str(s.getsockname()[1]), "--ephemeral", cwd=tmp_path)
    assert out.returncode == 2
    assert "cannot listen on" in out.stderr and "in use" in out.stderr


def test_no_auth_warns_at_start(tmp_path):
    server = ServerProcess("--no-auth", "--ephemeral", cwd=tmp_path)
    try:
        banner = "".join(server.banner)
    finally:
        server.stop()
    assert "WARNING: --no-auth" in banner
    assert "not a loopback address" not in banner
    assert "NOTE: the simulated clock" not in banner  # a new simulation starts at wall time


@pytest.mark.parametrize("host,loopback", [
    ("127.0.0.1", True), ("::1", True), ("localhost", True), ("0.0.0.0", False),
    ("", False), ("192.0.2.1", False), ("example.com", False)])
def test_which_hosts_count_as_loopback_for_the_no_auth_warning(host, loopback):
    # Tests never bind public addresses; the check that triggers the warning is tested here.
    assert _loopback(host) is loopback


def test_the_default_state_file_is_in_the_working_directory(tmp_path):
    server = ServerProcess(cwd=tmp_path)
    server.stop()
    assert (tmp_path / "fargate-sim-state.db").exists()
    assert (tmp_path / "fargate-sim-state.db.key").exists()


@pytest.mark.slow
def test_boto3_story_survives_sigkill(tmp_path):
    state = str(tmp_path / "state.db")
    server = ServerProcess("--speed", "60", "--state", state, cwd=tmp_path)

    def clients(url):
        kw = dict(endpoint_url=url, region_name="us-west-2",
                  aws_access_key_id=DEFAULT_ROOT_KEY[0],
                  aws_secret_access_key=DEFAULT_ROOT_KEY[1],
                  config=Config(retries={"max_attempts": 1}))
        return boto3.client("kms", **kw), boto3.client("ecs", **kw)

    try:
        kms, ecs = clients(server.url)
        arn = seed_cluster(kms, ecs)
        task = run_app_task(ecs)
        # At 60x the task starts within a second or so of wall time; the waiter polls.
        ecs.get_waiter("tasks_running").wait(cluster="web", tasks=[task],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        blob = kms.encrypt(KeyId=arn, Plaintext=b"kept")["CiphertextBlob"]
        server.kill()
        server = ServerProcess("--speed", "60", "--state", state, cwd=tmp_path)
        kms, ecs = clients(server.url)
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
        assert ecs.describe_tasks(cluster="web", tasks=[task])["tasks"][0][
            "lastStatus"] == "RUNNING"
        assert [g["Operations"] for g in kms.list_grants(KeyId=arn)["Grants"]] == [["Decrypt"]]
        assert ecs.list_clusters()["clusterArns"][0].endswith(":cluster/web")
    finally:
        server.stop()


def test_root_key_sets_the_roots_pair(tmp_path):
    server = ServerProcess("--root-key", "AKIAROOTEXAMPLE00001:s3cret", "--ephemeral",
                           cwd=tmp_path)
    try:
        assert any("AKIAROOTEXAMPLE00001" in line for line in server.banner)

        def sts(key):
            return boto3.client("sts", endpoint_url=server.url, region_name="us-west-2",
                                aws_access_key_id=key[0], aws_secret_access_key=key[1],
                                config=Config(retries={"max_attempts": 1}))

        assert sts(("AKIAROOTEXAMPLE00001", "s3cret")).get_caller_identity()["Account"] == \
            "111122223333"
        with pytest.raises(Exception) as info:
            sts(DEFAULT_ROOT_KEY).get_caller_identity()
        assert "InvalidClientTokenId" in str(info.value)
    finally:
        server.stop()


def test_a_state_file_of_another_account_is_refused(tmp_path):
    server = ServerProcess("--state", str(tmp_path / "s.db"), cwd=tmp_path)
    server.stop()
    out = _serve("--state", str(tmp_path / "s.db"), "--account", "444455556666", "--port", "0",
                 cwd=tmp_path)
    assert out.returncode == 2 and "holds account 111122223333" in out.stderr


def test_a_restored_clock_catches_up_with_wall_time(tmp_path):
    import time
    import urllib.request

    def now(server):
        with urllib.request.urlopen(f"{server.url}/_fargate-sim/status", timeout=10) as r:
            return json.loads(r.read())["now"]

    from datetime import datetime

    state = str(tmp_path / "s.db")
    server = ServerProcess("--clock", "manual", "--state", state, cwd=tmp_path)
    frozen = now(server)
    server.stop()
    time.sleep(5)  # longer than a start takes, so only catching up explains the gap
    server = ServerProcess("--state", state, cwd=tmp_path)
    try:
        later = now(server)
    finally:
        server.stop()
    assert datetime.fromisoformat(later).timestamp() - \
        datetime.fromisoformat(frozen).timestamp() >= 5


def _status(server) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/_fargate-sim/status", timeout=10) as r:
        return json.loads(r.read())


def test_start_time_starts_the_simulation_then_and_a_restart_keeps_its_time(tmp_path):
    """--start-time sets a new simulation's clock (to try platform 1.3.0 before its
    retirement, say); a restart on the state moves on from there, not to wall time."""
    from datetime import datetime

    state = str(tmp_path / "s.db")
    server = ServerProcess("--start-time", "2026-01-02T03:04:05Z", "--state", state,
                           cwd=tmp_path)
    try:
        first = datetime.fromisoformat(_status(server)["now"])
        assert "now 2026-01-02T03:04" in "".join(server.banner)
        assert "NOTE: the simulated clock is not wall time" in "".join(server.banner)
    finally:
        server.stop()
    assert first.year == 2026 and (first.month, first.day, first.hour) == (1, 2, 3)
    server = ServerProcess("--state", state, cwd=tmp_path)
    try:
        again = datetime.fromisoformat(_status(server)["now"])
    finally:
        server.stop()
    assert 0 <= (again - first).total_seconds() < 600
    out = _serve("--state", state, "--start-time", "2026-01-01", "--port", "0", cwd=tmp_path)
    assert out.returncode == 2 and "--start-time starts a new simulation" in out.stderr


@pytest.mark.parametrize("text", ["yesterday", "9999-12-31T23:59:59Z", "2026-13-01"])
def test_a_bad_start_time_is_refused_by_name(tmp_path, text):
    out = _serve("--start-time", text, "--ephemeral", "--port", "0", cwd=tmp_path)
    assert out.returncode == 2
    assert "--start-time" in out.stderr and repr(text) in out.stderr
    assert "Traceback" not in out.stderr


_WRITER = """
import sys, time
from datetime import UTC, datetime
import boto3
from botocore.config import Config
from simulator import Simulation
from simulator.api import DEFAULT_ROOT_KEY, Authenticator, serve
from simulator.api.store import StateStore
from tests.api.seed_story import run_app_task, seed_cluster

store = StateStore(sys.argv[1])
server = serve(Simulation(start_time=datetime.now(UTC).replace(microsecond=0)),
               auth=Authenticator(), store=store, speed=0.0)
kw = dict(endpoint_url=server.url, region_name="us-west-2",
          aws_access_key_id=DEFAULT_ROOT_KEY[0], aws_secret_access_key=DEFAULT_ROOT_KEY[1],
          config=Config(retries={"max_attempts": 1}))
kms, ecs = boto3.client("kms", **kw), boto3.client("ecs", **kw)
arn = seed_cluster(kms, ecs)
task = run_app_task(ecs)
with server.endpoint.lock:
    server.sim.fargate.settle()
    server.sim.fargate.volume(task).write(8192, b"written before the kill")
kms.create_alias(AliasName="alias/after-the-write", TargetKeyId=arn)  # a mutating call saves
print(task, flush=True)
time.sleep(600)
"""


def test_volume_contents_survive_sigkill_and_a_restart(tmp_path):
    state = tmp_path / "state.db"
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(state)], cwd=tmp_path,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert writer.stdout is not None
        task = writer.stdout.readline().strip()
        assert task.startswith("arn:aws:ecs:")
    finally:
        writer.kill()
        writer.wait(10)
    server = ServerProcess("--clock", "manual", "--state", str(state), cwd=tmp_path)
    try:
        ecs = boto3.client("ecs", endpoint_url=server.url, region_name="us-west-2",
                           aws_access_key_id=DEFAULT_ROOT_KEY[0],
                           aws_secret_access_key=DEFAULT_ROOT_KEY[1])
        assert ecs.describe_tasks(cluster="web", tasks=[task])["tasks"][0][
            "lastStatus"] == "RUNNING"
    finally:
        server.stop()  # saves again: the volume's rows must be kept as they were
    from simulator.api.store import StateStore

    sim = StateStore(state).load()
    assert sim.fargate.volume(task).read(8192, 23) == b"written before the kill"
