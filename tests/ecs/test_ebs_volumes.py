"""Managed EBS volumes (volumeConfigurations): checks, the cluster's key, EBS's KMS calls."""

from __future__ import annotations

import json

import pytest

from simulator import errors
from simulator.ecs.options import EcsOptions
from tests.ecs.helpers import (
    ACCOUNT,
    CLUSTER,
    CONTAINER,
    NET,
    OPERATOR,
    OPERATOR_NAME,
    TRUST,
    allow,
    make_key,
    policy,
    register,
    run,
)

INFRA = "ecsInfrastructureRole"
INFRA_ARN = f"arn:aws:iam::{ACCOUNT}:role/{INFRA}"
ECS_TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ecs.amazonaws.com"},
    "Action": "sts:AssumeRole"}]})
VIA_EC2 = {"StringEquals": {"kms:ViaService": "ec2.us-west-2.amazonaws.com"}}


def infra_role(sim, key: str, grant_condition: dict | None = None) -> None:
    """The infrastructure role with the KMS permissions EBS needs on ``key``."""
    iam = sim.client("iam")
    iam.create_role(RoleName=INFRA, AssumeRolePolicyDocument=ECS_TRUST)
    iam.put_role_policy(RoleName=INFRA, PolicyName="kms", PolicyDocument=policy(
        {"Effect": "Allow", "Action": ["kms:GenerateDataKeyWithoutPlaintext", "kms:Decrypt",
                                       "kms:DescribeKey"], "Resource": key,
         "Condition": VIA_EC2},
        {"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": key,
         "Condition": grant_condition or {"Bool": {"kms:GrantIsForAWSResource": "true"}}},
    ))


def ebs_taskdef(sim) -> str:
    return register(sim, volumes=[{"name": "data", "configuredAtLaunch": True}],
                    containerDefinitions=[dict(CONTAINER, mountPoints=[
                        {"sourceVolume": "data", "containerPath": "/data"}])])


def volume(**ebs):
    ebs.setdefault("roleArn", INFRA_ARN)
    ebs.setdefault("sizeInGiB", 10)
    return [{"name": "data", "managedEBSVolume": ebs}]


@pytest.fixture
def setup(sim):
    """A cluster whose managed storage key is ``key``; the role may use it."""
    key = make_key(sim)
    infra_role(sim, key)
    sim.client("ecs").create_cluster(clusterName=CLUSTER, configuration={
        "managedStorageConfiguration": {"kmsKeyId": key}})
    return key, ebs_taskdef(sim)


def ebs_attachment(task):
    [att] = [a for a in task["attachments"] if a["type"] == "AmazonElasticBlockStorage"]
    return {d["name"]: d["value"] for d in att["details"]}, att["status"]


def test_the_volume_is_encrypted_with_the_clusters_key(sim, setup):
    key, td = setup
    before = len(sim.audit_trail)
    [task] = run(sim, td, volumeConfigurations=volume())
    assert task["lastStatus"] == "RUNNING"
    details, status = ebs_attachment(task)
    assert status == "ATTACHED" and details["kmsKeyId"] == key and details["encrypted"] == "true"
    recs = [r for r in sim.audit_trail[before:] if r["eventSource"] == "kms.amazonaws.com"]
    assert [r["eventName"] for r in recs] == [
        "GenerateDataKeyWithoutPlaintext", "CreateGrant", "Decrypt"]
    gen, grant, dec = recs
    context = {"aws:ebs:id": details["volumeId"]}
    for rec in (gen, grant):  # as the infrastructure role, through EC2's front end
        assert rec["userIdentity"]["type"] == "AssumedRole"
        assert rec["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == INFRA_ARN
        assert rec["userIdentity"]["invokedBy"] == "ec2-frontend-api.amazonaws.com"
        assert rec["sourceIPAddress"] == "ec2-frontend-api.amazonaws.com"
    assert gen["requestParameters"]["encryptionContext"] == context
    assert gen["requestParameters"]["numberOfBytes"] == 64
    p = grant["requestParameters"]
    assert p["constraints"] == {"encryptionContextSubset": context}
    assert p["retiringPrincipal"] == "ec2.us-west-2.amazonaws.com" and p["operations"] == [
        "Decrypt"]
    assert dec["requestParameters"]["encryptionContext"] == context
    vol = sim.fargate.storage_record(task["taskArn"]).ebs["data"].volume
    assert vol.spec.name == "aes-xts-plain64"
    vol.write(0, b"x" * 4096)
    assert vol.read(0, 4096) == b"x" * 4096


def test_stop_retires_the_volumes_grant(sim, setup):
    key, td = setup
    [task] = run(sim, td, volumeConfigurations=volume())
    assert len(sim.client("kms").list_grants(KeyId=key)["Grants"]) == 1
    sim.client("ecs").stop_task(cluster=CLUSTER, task=task["taskArn"])
    sim.fargate.settle()
    assert sim.client("kms").list_grants(KeyId=key)["Grants"] == []


def test_without_grant_is_for_aws_resource_the_grant_is_denied(sim):
    key = make_key(sim)
    infra_role(sim, key, grant_condition={"Bool": {"kms:GrantIsForAWSResource": "false"}})
    sim.client("ecs").create_cluster(clusterName=CLUSTER, configuration={
        "managedStorageConfiguration": {"kmsKeyId": key}})
    [task] = run(sim, ebs_taskdef(sim), volumeConfigurations=volume())
    assert task["stopCode"] == "TaskFailedToStart"
    assert "kms:CreateGrant failed with AccessDeniedException" in task["stoppedReason"]
    assert sim.client("kms").list_grants(KeyId=key)["Grants"] == []


@pytest.mark.parametrize(("reading", "winner"), [("cluster", 0), ("volume", 1)])
def test_both_keys_given_follows_the_option(sim, reading, winner):
    keys = [make_key(sim), make_key(sim)]
    sim.ecs.options = EcsOptions(ebs_key_precedence=reading)
    iam = sim.client("iam")
    iam.create_role(RoleName=INFRA, AssumeRolePolicyDocument=ECS_TRUST)
    iam.put_role_policy(RoleName=INFRA, PolicyName="kms", PolicyDocument=policy(
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}))
    sim.client("ecs").create_cluster(clusterName=CLUSTER, configuration={
        "managedStorageConfiguration": {"kmsKeyId": keys[0]}})
    [task] = run(sim, ebs_taskdef(sim), volumeConfigurations=volume(kmsKeyId=keys[1]))
    assert ebs_attachment(task)[0]["kmsKeyId"] == keys[winner]


def test_no_key_no_customer_key_call(sim):
    sim.client("ecs").create_cluster(clusterName=CLUSTER)
    before = len(sim.audit_trail)
    [task] = run(sim, ebs_taskdef(sim), volumeConfigurations=volume(encrypted=True))
    details, _ = ebs_attachment(task)
    assert details["encrypted"] == "true" and "kmsKeyId" not in details
    assert not [r for r in sim.audit_trail[before:] if r["eventSource"] == "kms.amazonaws.com"]


BAD = [
    ("not configured at launch", "plain", volume(), "configuredAtLaunch"),
    ("magnetic", "ebs", volume(volumeType="standard"),
     "The magnetic volume type is not supported on Fargate."),
    ("too small io1", "ebs", volume(volumeType="io1", sizeInGiB=1), "between 4 and 16384"),
    ("no size", "ebs", [{"name": "data", "managedEBSVolume": {"roleArn": INFRA_ARN}}],
     "sizeInGiB"),
    ("two volumes", "ebs", volume() + volume(), "one Amazon EBS volume per task"),
]


@pytest.mark.parametrize(("case", "td_kind", "configs", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_volume_configurations(sim, case, td_kind, configs, message):
    sim.client("ecs").create_cluster(clusterName=CLUSTER)
    td = ebs_taskdef(sim) if td_kind == "ebs" else register(sim)
    with pytest.raises(errors.InvalidParameterException, match=message):
        run(sim, td, volumeConfigurations=configs)


def test_not_on_platform_1_3_0(sim):
    sim.client("ecs").create_cluster(clusterName=CLUSTER)
    td = register(sim, family="v", volumes=[{"name": "data", "configuredAtLaunch": True}])
    with pytest.raises(errors.InvalidParameterException, match=r"1\.4\.0 or later"):
        run(sim, td, platformVersion="1.3.0", volumeConfigurations=volume())


def test_a_service_deployment_carries_the_volume(sim, setup):
    key, td = setup
    ecs = sim.client("ecs")
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=td, desiredCount=2,
                       launchType="FARGATE", networkConfiguration=NET,
                       volumeConfigurations=volume())
    sim.fargate.settle()
    [svc] = ecs.describe_services(cluster=CLUSTER, services=["web"])["services"]
    assert svc["deployments"][0]["volumeConfigurations"] == volume()
    tasks = ecs.describe_tasks(cluster=CLUSTER, tasks=ecs.list_tasks(cluster=CLUSTER)[
        "taskArns"])["tasks"]
    ids = {ebs_attachment(t)[0]["volumeId"] for t in tasks}
    assert len(ids) == 2  # one volume per task
    assert len(sim.client("kms").list_grants(KeyId=key)["Grants"]) == 2


def test_the_caller_must_pass_the_infrastructure_role(sim, setup):
    _, td = setup
    iam = sim.client("iam")
    iam.create_role(RoleName=OPERATOR_NAME, AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(RoleName=OPERATOR_NAME, PolicyName="ecs",
                        PolicyDocument=policy(allow("ecs:*")))
    ecs = sim.client("ecs", principal=OPERATOR)
    with pytest.raises(errors.AccessDeniedException, match="iam:PassRole"):
        ecs.run_task(cluster=CLUSTER, taskDefinition=td, launchType="FARGATE",
                     networkConfiguration=NET, volumeConfigurations=volume())
    iam.put_role_policy(RoleName=OPERATOR_NAME, PolicyName="pass", PolicyDocument=policy(
        allow("iam:PassRole", INFRA_ARN, StringEquals={
            "iam:PassedToService": "ecs.amazonaws.com"})))
    assert ecs.run_task(cluster=CLUSTER, taskDefinition=td, launchType="FARGATE",
                        networkConfiguration=NET, volumeConfigurations=volume())["tasks"]
