"""AWS managed policies are package data (``simulator/iam/managed_policies``), shipped in a
non-editable install, and behave as AWS's: readable, attachable, not deletable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.errors import ClientError
from simulator.iam.aws_managed import aws_managed_policies
from tests.iam.helpers import ACCOUNT, check_iam_shape

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "simulator" / "iam" / "managed_policies"
EXECUTION = "arn:aws:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy"
TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


def test_every_file_is_a_policy_named_by_its_path_and_stem():
    files = sorted(p.relative_to(DATA) for p in DATA.rglob("*.json"))
    shipped = sorted(Path(p.path[1:]) / f"{p.name}.json" for p in aws_managed_policies())
    assert shipped == files and len(files) >= 4
    for policy in aws_managed_policies():
        assert json.loads(policy.document)["Version"] == "2012-10-17"
    assert EXECUTION in {p.arn("aws") for p in aws_managed_policies()}


def test_the_task_execution_policy_reads_and_evaluates_as_aws_publishes_it(iam, iam_sim):
    got = iam.get_policy(PolicyArn=EXECUTION)
    check_iam_shape("GetPolicy", got)
    assert got["Policy"]["Path"] == "/service-role/"
    assert got["Policy"]["PolicyName"] == "AmazonECSTaskExecutionRolePolicy"
    version = iam.get_policy_version(PolicyArn=EXECUTION, VersionId="v1")["PolicyVersion"]
    assert version["Document"]["Statement"][0]["Action"] == [
        "ecr:GetAuthorizationToken", "ecr:BatchCheckLayerAvailability",
        "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage",
        "logs:CreateLogStream", "logs:PutLogEvents"]
    iam.create_role(RoleName="Exec", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(RoleName="Exec", PolicyArn=EXECUTION)
    role = f"arn:aws:iam::{ACCOUNT}:role/Exec"
    results = iam.simulate_principal_policy(
        PolicySourceArn=role, ActionNames=["ecr:BatchGetImage", "kms:Decrypt"]
    )["EvaluationResults"]
    assert [r["EvalDecision"] for r in results] == ["allowed", "implicitDeny"]
    listed = iam.list_attached_role_policies(RoleName="Exec", PathPrefix="/service-role/")
    assert listed["AttachedPolicies"] == [
        {"PolicyName": "AmazonECSTaskExecutionRolePolicy", "PolicyArn": EXECUTION}]


def test_list_policies_scope_aws_is_the_shipped_set_and_they_cannot_be_changed(iam):
    listed = iam.list_policies(Scope="AWS", MaxItems=1000)
    check_iam_shape("ListPolicies", listed)
    assert sorted(p["Arn"] for p in listed["Policies"]) == sorted(
        p.arn("aws") for p in aws_managed_policies())
    assert iam.list_policies(Scope="Local")["Policies"] == []
    for change in (lambda: iam.delete_policy(PolicyArn=EXECUTION),
                   lambda: iam.create_policy_version(PolicyArn=EXECUTION, PolicyDocument=json.dumps(
                       {"Version": "2012-10-17", "Statement": [
                           {"Effect": "Allow", "Action": "*", "Resource": "*"}]}))):
        with pytest.raises(ClientError):
            change()
    assert iam.get_policy(PolicyArn=EXECUTION)["Policy"]["DefaultVersionId"] == "v1"
    assert len(iam.list_policy_versions(PolicyArn=EXECUTION)["Versions"]) == 1


def test_a_non_editable_build_ships_the_policy_documents(tmp_path):
    """setuptools' build_py is what a wheel (and so a non-editable install) copies; the
    package-data globs in pyproject.toml must reach ``managed_policies/**``."""
    build = tmp_path / "lib"
    run = subprocess.run(
        [sys.executable, "-c", "import setuptools; setuptools.setup(script_args="
         f"['-q', 'build_py', '--build-lib', {str(build)!r}])"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    built = sorted(p.relative_to(build / "simulator" / "iam" / "managed_policies")
                   for p in (build / "simulator" / "iam" / "managed_policies").rglob("*.json"))
    assert built == sorted(p.relative_to(DATA) for p in DATA.rglob("*.json"))
    # and the installed copy, not the source tree, is what importlib.resources reads
    probe = subprocess.run(
        [sys.executable, "-c",
         f"import sys; sys.path.insert(0, {str(build)!r}); "
         "import simulator.iam.aws_managed as m; "
         "print(m.__file__); print(len(m.aws_managed_policies()))"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    where, count = probe.stdout.split()
    assert where.startswith(str(build)) and int(count) == len(built)
