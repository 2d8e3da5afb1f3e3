"""S15 and S16: the inputs users already have, the AWS CLI call and the CloudFormation template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import Simulation
from simulator.cli import main
from simulator.cloudformation import TemplateError, deploy
from simulator.iam.seed import seed_key_policy
from tests.seed_sample import SEED_KEY, seed_cluster

TEMPLATES = Path(__file__).parent / "cfn" / "templates"
#: The README's deploy example: key, alias, operator role and policy, cluster, task, service.
STACK = Path(__file__).resolve().parents[1] / "experiments" / "seed" / "stack.yaml"
SEED_CONFIG = (
    '{"managedStorageConfiguration":{"fargateEphemeralStorageKmsKeyId":"' + SEED_KEY + '"}}'
)
SEED_RESPONSE = {"cluster": seed_cluster()}


def test_S15_seed_cli_create_cluster_prints_the_seed_response(capsys):
    code = main(["ecs", "create-cluster", "--cluster", "clusterName", "--configuration",
                 SEED_CONFIG])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out) == SEED_RESPONSE
    assert "created KMS key" in err


def test_S15_console_script_runs_the_seed_command():
    proc = subprocess.run(
        [sys.executable, "-m", "simulator", "ecs", "create-cluster", "--cluster", "clusterName",
         "--configuration", SEED_CONFIG],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["cluster"]["configuration"] == (
        SEED_RESPONSE["cluster"]["configuration"]
    )


def test_S15_cli_without_the_key_reports_the_aws_error(capsys):
    code = main(["ecs", "create-cluster", "--cluster", "clusterName", "--configuration",
                 SEED_CONFIG, "--no-create-keys"])
    _, err = capsys.readouterr()
    assert code == 254
    assert "InvalidParameterException" in err or "NotFoundException" in err


def test_S15_cli_bad_json_is_a_usage_error(capsys):
    code = main(["ecs", "create-cluster", "--cluster", "c", "--configuration", "{oops"])
    assert code == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_S16_seed_template_deploys_the_cluster_with_the_key():
    sim = Simulation(account_id="012345678901", strict_shapes=True)
    sim.service("kms").create_key_with_id(
        "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111", policy=seed_key_policy("012345678901")
    )
    report = deploy(sim, TEMPLATES / "seed_cluster.yaml")
    assert report.ok, report.render()
    ecs = sim.client("ecs")
    cluster = ecs.describe_clusters(clusters=["clusterName"], include=["CONFIGURATIONS"])[
        "clusters"][0]
    assert cluster["configuration"]["managedStorageConfiguration"] == {
        "fargateEphemeralStorageKmsKeyId": SEED_KEY
    }


def test_S16_template_with_a_missing_key_fails_and_rolls_back():
    sim = Simulation(account_id="012345678901")
    report = deploy(sim, TEMPLATES / "seed_cluster.yaml")
    assert report.status == "ROLLBACK_COMPLETE"
    (res,) = report.resources
    assert res.status == "CREATE_FAILED" and SEED_KEY in res.reason
    assert sim.client("ecs").list_clusters()["clusterArns"] == []


def test_S16_full_stack_key_role_cluster_taskdef_service():
    sim = Simulation(strict_shapes=True)
    report = deploy(sim, STACK, stack_name="demo")
    assert report.ok, report.render()
    key_arn = report.outputs["KeyArn"]
    assert [r.status for r in report.resources] == ["CREATE_COMPLETE"] * 7
    kms = sim.client("kms")
    assert kms.describe_key(KeyId="alias/fargate-storage")["KeyMetadata"]["Arn"] == key_arn
    ecs = sim.client("ecs")
    cluster = ecs.describe_clusters(clusters=["web"], include=["CONFIGURATIONS"])["clusters"][0]
    assert cluster["configuration"]["managedStorageConfiguration"][
        "fargateEphemeralStorageKmsKeyId"] == key_arn
    svc = ecs.describe_services(cluster="web", services=["app"])["services"][0]
    assert svc["desiredCount"] == 1
    role = sim.client("iam").get_role(RoleName="customer-chosen-role")["Role"]
    assert role["Arn"].endswith(":role/customer-chosen-role")
    # The role's policy allows CreateCluster only with the stack's key.
    op = sim.client("ecs", principal=role["Arn"])
    op.create_cluster(clusterName="web2", configuration={
        "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": key_arn}})
    with pytest.raises(sim.client("ecs").exceptions.AccessDeniedException):
        op.create_cluster(clusterName="web3")


def test_S16_unsupported_resource_types_are_named(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(
        "Resources:\n  B:\n    Type: AWS::S3::Bucket\n  C:\n    Type: AWS::ECS::Cluster\n"
    )
    with pytest.raises(TemplateError, match="AWS::S3::Bucket"):
        deploy(Simulation(), path)


def test_S16_the_pages_template_deploys_as_written_with_the_cli(capsys):
    """`fargate-sim deploy` creates the key the template names by ARN (in that ARN's account
    and Region, with the seed's key policy for the template's cluster), as `fargate-sim ecs`
    does for a command line; --no-create-keys shows the real failure."""
    code = main(["deploy", str(TEMPLATES / "seed_cluster.yaml"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.out
    assert f"created KMS key {SEED_KEY}" in out.err
    report = json.loads(out.out)
    assert report["StackStatus"] == "CREATE_COMPLETE"
    assert report["Resources"][0]["PhysicalResourceId"] == "clusterName"
    code = main(["deploy", str(TEMPLATES / "seed_cluster.yaml"), "--no-create-keys"])
    out = capsys.readouterr()
    assert code == 1 and "the key does not exist" in out.out and "created KMS key" not in out.err


def test_S16_deploy_cli_reports_each_resource(capsys):
    code = main(["deploy", str(STACK), "--stack-name", "demo"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Stack demo: CREATE_COMPLETE" in out
    assert "StorageKey" in out and "AWS::ECS::Service" in out
