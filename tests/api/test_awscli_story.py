"""The seed's story with the real AWS CLI (v1) against `fargate-sim serve` in a subprocess.

Credentials from files, a user assuming the operator role through a CLI profile, the seed's
key policy and create-cluster command, run-task and the tasks-running waiter, the task's
fargateEphemeralStorage.kmsKeyId, Fargate's Decrypt grant, CloudTrail's view of the KMS
sequence, a SIGKILL and restart that keep it all, stop-task retiring the grant.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.api import DEFAULT_ROOT_KEY
from simulator.iam.seed import seed_allow_approved_keys, seed_deny_without_key, seed_key_policy
from tests.api.conftest import TRUST_ACCOUNT
from tests.api.subprocess_server import ServerProcess

pytestmark = pytest.mark.slow
ACCOUNT = "111122223333"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/customer-chosen-role"


class Aws:
    """`python -m awscli` with its configuration in temporary files and no network."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.tmp = tmp
        (tmp / "home").mkdir(exist_ok=True)
        self.env = {
            "PATH": os.environ.get("PATH", ""), "HOME": str(tmp / "home"),
            "AWS_CONFIG_FILE": str(tmp / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "credentials"),
            "AWS_ENDPOINT_URL": url, "AWS_MAX_ATTEMPTS": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        (tmp / "credentials").write_text(
            f"[default]\naws_access_key_id = {DEFAULT_ROOT_KEY[0]}\n"
            f"aws_secret_access_key = {DEFAULT_ROOT_KEY[1]}\n")
        (tmp / "config").write_text("[default]\nregion = us-west-2\noutput = json\n")

    def url(self, url: str) -> None:
        self.env["AWS_ENDPOINT_URL"] = url

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """``aws ARGS`` as it ran: exit code, stdout, stderr."""
        return subprocess.run([sys.executable, "-m", "awscli", *args], env=self.env,
                              capture_output=True, text=True, timeout=120)

    def __call__(self, *args: str, profile: str | None = None, check: bool = True) -> dict:
        cmd = [sys.executable, "-m", "awscli", *args]
        if profile:
            cmd += ["--profile", profile]
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {out.stderr}")
        if not check:
            return {"rc": out.returncode, "stderr": out.stderr}
        return json.loads(out.stdout) if out.stdout.strip() else {}

    def file(self, name: str, doc: dict) -> str:
        path = self.tmp / name
        path.write_text(json.dumps(doc))
        return f"file://{path}"


def _admin(url: str, action: str) -> None:
    subprocess.run([sys.executable, "-m", "simulator", "admin", "--endpoint", url, action],
                   check=True, capture_output=True, timeout=60)


def test_the_seed_story_with_the_aws_cli(tmp_path):
    server = ServerProcess("--speed", "10", "--state", str(tmp_path / "state.db"),
                           cwd=tmp_path)
    try:
        _story(tmp_path, server)
    finally:
        server.stop()


def _story(tmp: Path, server: ServerProcess) -> None:
    aws = Aws(tmp, server.url)
    assert aws("sts", "get-caller-identity")["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"

    # The operator: a role only a deployer user may assume, with the seed's IAM policies.
    aws("iam", "create-user", "--user-name", "deployer")
    aws("iam", "put-user-policy", "--user-name", "deployer", "--policy-name", "assume",
        "--policy-document", aws.file("assume.json", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN}]}))
    key = aws("iam", "create-access-key", "--user-name", "deployer")["AccessKey"]
    aws("iam", "create-role", "--role-name", "customer-chosen-role",
        "--assume-role-policy-document", aws.file("trust.json", TRUST_ACCOUNT))
    deny = seed_deny_without_key()["Statement"]
    aws("iam", "put-role-policy", "--role-name", "customer-chosen-role", "--policy-name", "ops",
        "--policy-document", aws.file("ops.json", {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:RegisterTaskDefinition", "ecs:RunTask",
                                           "ecs:DescribeTasks", "ecs:StopTask",
                                           "ecs:DescribeClusters", "ecs:ListTasks",
                                           "kms:ListGrants", "kms:DescribeKey",
                                           "cloudtrail:LookupEvents"], "Resource": "*"},
            deny]}))
    with open(tmp / "credentials", "a") as f:
        f.write(f"[deployer]\naws_access_key_id = {key['AccessKeyId']}\n"
                f"aws_secret_access_key = {key['SecretAccessKey']}\n")
    with open(tmp / "config", "a") as f:
        f.write(f"[profile operator]\nrole_arn = {ROLE_ARN}\nsource_profile = deployer\n"
                "region = us-west-2\nrole_session_name = operator\n")
    who = aws("sts", "get-caller-identity", profile="operator")
    assert who["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/customer-chosen-role/operator"

    # The seed's key (root creates it with the seed's policy) and the seed's cluster command.
    meta = aws("kms", "create-key", "--policy",
               json.dumps(seed_key_policy(ACCOUNT, "clusterName")))["KeyMetadata"]
    aws("iam", "put-role-policy", "--role-name", "customer-chosen-role", "--policy-name",
        "keys", "--policy-document", aws.file("keys.json", seed_allow_approved_keys(meta["Arn"])))
    cluster = aws("ecs", "create-cluster", "--cluster", "clusterName", "--configuration",
                  json.dumps({"managedStorageConfiguration": {
                      "fargateEphemeralStorageKmsKeyId": meta["Arn"]}}),
                  profile="operator")["cluster"]
    assert cluster["configuration"]["managedStorageConfiguration"][
        "fargateEphemeralStorageKmsKeyId"] == meta["Arn"]
    denied = aws("ecs", "create-cluster", "--cluster", "nokey", profile="operator", check=False)
    assert denied["rc"] != 0 and "AccessDeniedException" in denied["stderr"]

    aws("ecs", "register-task-definition", "--family", "app", "--cpu", "256", "--memory", "512",
        "--network-mode", "awsvpc", "--requires-compatibilities", "FARGATE",
        "--container-definitions", json.dumps([{"name": "app", "image": "busybox",
                                                "essential": True}]), profile="operator")
    task = aws("ecs", "run-task", "--cluster", "clusterName", "--task-definition", "app",
               "--launch-type", "FARGATE", "--network-configuration", json.dumps(
                   {"awsvpcConfiguration": {"subnets": ["subnet-12345678"]}}),
               profile="operator")["tasks"][0]
    _admin(server.url, "settle")
    aws("ecs", "wait", "tasks-running", "--cluster", "clusterName", "--tasks", task["taskArn"],
        profile="operator")
    described = aws("ecs", "describe-tasks", "--cluster", "clusterName", "--tasks",
                    task["taskArn"], profile="operator")["tasks"][0]
    assert described["lastStatus"] == "RUNNING"
    assert described["fargateEphemeralStorage"]["kmsKeyId"] == meta["Arn"]
    grants = aws("kms", "list-grants", "--key-id", meta["Arn"], profile="operator")["Grants"]
    assert [g["Operations"] for g in grants] == [["Decrypt"]]
    events = aws("cloudtrail", "lookup-events", "--lookup-attributes",
                 "AttributeKey=EventSource,AttributeValue=kms.amazonaws.com",
                 profile="operator")["Events"]
    names = [e["EventName"] for e in reversed(events)]
    assert names.index("GenerateDataKeyWithoutPlaintext") < names.index("CreateGrant") \
        < len(names)
    record = json.loads(events[0]["CloudTrailEvent"])
    assert record["eventSource"] == "kms.amazonaws.com"

    secret = aws("kms", "encrypt", "--key-id", meta["Arn"], "--plaintext", "hello")
    (tmp / "blob").write_bytes(__import__("base64").b64decode(secret["CiphertextBlob"]))

    # SIGKILL, restart on the same state: keys, cluster, task, grant and old ciphertext kept.
    server.kill()
    again = ServerProcess("--speed", "10", "--state", str(tmp / "state.db"), cwd=tmp)
    try:
        assert any("(restored)" in line for line in again.banner)
        aws.url(again.url)
        assert aws("kms", "describe-key", "--key-id", meta["Arn"])["KeyMetadata"]["Enabled"]
        plain = aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp / 'blob'}")
        assert plain["Plaintext"] == "aGVsbG8="
        assert aws("ecs", "describe-tasks", "--cluster", "clusterName", "--tasks",
                   task["taskArn"], profile="operator")["tasks"][0]["lastStatus"] == "RUNNING"
        assert len(aws("kms", "list-grants", "--key-id", meta["Arn"])["Grants"]) == 1

        aws("ecs", "stop-task", "--cluster", "clusterName", "--task", task["taskArn"],
            profile="operator")
        _admin(again.url, "settle")
        assert aws("kms", "list-grants", "--key-id", meta["Arn"])["Grants"] == []
        retired = aws("cloudtrail", "lookup-events", "--lookup-attributes",
                      "AttributeKey=EventName,AttributeValue=RetireGrant")["Events"]
        assert len(retired) == 1
    finally:
        again.stop()
