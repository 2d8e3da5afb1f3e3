"""Shared fixtures for black-box acceptance tests (written from the specs only)."""

import json

import pytest

from simulator import Simulation

ACCOUNT = "111122223333"
REGION = "us-west-2"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/customer-chosen-role"
ROOT = f"arn:aws:iam::{ACCOUNT}:root"


def seed_policy(account=ACCOUNT, cluster="clusterName", operator=OPERATOR):
    """The seed page's three statements, wrapped, plus an administrator statement (S9)."""
    ctx = {
        "kms:EncryptionContext:aws:ecs:clusterAccount": [account],
        "kms:EncryptionContext:aws:ecs:clusterName": [cluster],
    }
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM User Permissions",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Allow generate data key access for Fargate tasks.",
                "Effect": "Allow",
                "Principal": {"Service": "fargate.amazonaws.com"},
                "Action": ["kms:GenerateDataKeyWithoutPlaintext"],
                "Condition": {"StringEquals": dict(ctx)},
                "Resource": "*",
            },
            {
                "Sid": "Allow grant creation permission for Fargate tasks.",
                "Effect": "Allow",
                "Principal": {"Service": "fargate.amazonaws.com"},
                "Action": ["kms:CreateGrant"],
                "Condition": {
                    "StringEquals": dict(ctx),
                    "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]},
                },
                "Resource": "*",
            },
            {
                "Sid": "Allow describe key permission for cluster operator - CreateCluster and UpdateCluster.",
                "Effect": "Allow",
                "Principal": {"AWS": operator},
                "Action": ["kms:DescribeKey"],
                "Resource": "*",
            },
        ],
    }


@pytest.fixture
def sim():
    return Simulation(account_id=ACCOUNT, region=REGION)


@pytest.fixture
def kms(sim):
    return sim.client("kms")


@pytest.fixture
def seed_key(kms):
    return kms.create_key(Policy=json.dumps(seed_policy()))["KeyMetadata"]


def operator_with_policies(sim, name="customer-chosen-role", policies=None):
    """Create the operator role and give it identity policies the boto3 way."""
    iam = sim.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    for i, p in enumerate(policies or []):
        iam.put_role_policy(RoleName=name, PolicyName=f"p{i}", PolicyDocument=json.dumps(p))
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


ALLOW_ECS_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["ecs:*", "iam:PassRole"], "Resource": "*"}],
}


def register_td(ecs, family="app", os_family=None, size=None):
    kw = dict(
        family=family,
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="256",
        memory="512",
        containerDefinitions=[
            {
                "name": "app",
                "image": "public.ecr.aws/docker/library/busybox:latest",
                "essential": True,
                "command": ["sleep", "3600"],
            }
        ],
    )
    if os_family:
        kw["runtimePlatform"] = {"operatingSystemFamily": os_family, "cpuArchitecture": "X86_64"}
        if os_family.startswith("WINDOWS"):
            kw["cpu"], kw["memory"] = "1024", "2048"
    if size:
        kw["ephemeralStorage"] = {"sizeInGiB": size}
    return ecs.register_task_definition(**kw)["taskDefinition"]["taskDefinitionArn"]


NETCONF = {"awsvpcConfiguration": {"subnets": ["subnet-12345678"], "assignPublicIp": "DISABLED"}}
