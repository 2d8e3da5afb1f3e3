"""Fixtures for the KMS tests: the seed's key policy, keys, clients as various principals."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simulator import Simulation
from simulator.iam.seed import seed_key_policy

ACCOUNT = "111122223333"
OTHER = "444455556666"
REGION = "us-west-2"
CLUSTER = "prod"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/customer-chosen-role"
APP_ROLE = f"arn:aws:iam::{ACCOUNT}:role/App"
STRANGER = f"arn:aws:iam::{ACCOUNT}:role/Stranger"
FARGATE = "fargate.amazonaws.com"
FARGATE_REGIONAL = f"fargate.{REGION}.amazonaws.com"
EC2_REGIONAL = f"ec2.{REGION}.amazonaws.com"
CLUSTER_CONTEXT = {"aws:ecs:clusterAccount": ACCOUNT, "aws:ecs:clusterName": CLUSTER}
ASSUME_ROLE = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})


def explanation_of(exc: Exception) -> str:
    """The simulator's explanation kept beside AWS's message on an error."""
    text = getattr(exc, "explanation", None)
    assert text, f"{exc!r} carries no explanation"
    return text


def policy_json(*statements: dict[str, Any]) -> str:
    """A policy document holding ``statements``."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def root_statement(account: str = ACCOUNT) -> dict[str, Any]:
    """The default policy's statement: the account root may do kms:* (enables IAM policies)."""
    return {
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
        "Resource": "*",
    }


def make_role(sim: Simulation, name: str, *statements: dict[str, Any],
              account: str = ACCOUNT) -> str:
    """Create an IAM role (with an inline policy of ``statements``) and return its ARN."""
    iam = sim.client("iam", principal=account)
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=ASSUME_ROLE)
    if statements:
        iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=policy_json(
            *statements))
    return f"arn:aws:iam::{account}:role/{name}"


@pytest.fixture
def kms(sim: Simulation) -> Any:
    """The account root's KMS client."""
    return sim.client("kms")


@pytest.fixture
def key(kms: Any) -> dict[str, Any]:
    """A symmetric key with AWS's default policy."""
    return kms.create_key(Description="test key")["KeyMetadata"]


@pytest.fixture
def seed_key(kms: Any) -> dict[str, Any]:
    """A key with the seed's key policy (Fargate statements, operator DescribeKey, root admin)."""
    policy = seed_key_policy(ACCOUNT, CLUSTER, "customer-chosen-role")
    return kms.create_key(Policy=json.dumps(policy))["KeyMetadata"]


@pytest.fixture
def fargate(sim: Simulation) -> Any:
    """KMS as the Fargate service principal sees it."""
    return sim.client("kms", principal=FARGATE)
