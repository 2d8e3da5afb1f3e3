"""authorize(): the full request context, the decision, and AWS's AccessDenied wording."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from simulator.errors import AccessDeniedException
from simulator.iam import PolicyDocument, global_context, resolve_principal
from simulator.iam.authorization import authorize, request_context
from simulator.iam.seed import EXAMPLE_KEY_ARN, seed_allow_approved_keys, seed_deny_without_key
from tests.iam.helpers import ACCOUNT, OTHER

ROLE = f"arn:aws:iam::{ACCOUNT}:role/Operator"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
     "Action": "sts:AssumeRole"}]})
CLUSTER = f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/clusterName"
CLUSTER_KEY = "ecs:fargate-ephemeral-storage-kms-key"


@pytest.fixture
def operator(iam_sim, iam):
    iam.create_role(RoleName="Operator", AssumeRolePolicyDocument=TRUST,
                    Tags=[{"Key": "Team", "Value": "storage"}])
    iam.put_role_policy(RoleName="Operator", PolicyName="allow",
                        PolicyDocument=json.dumps(seed_allow_approved_keys()))
    iam.put_role_policy(RoleName="Operator", PolicyName="deny",
                        PolicyDocument=json.dumps(seed_deny_without_key()))
    return iam_sim.principal(ROLE)


def test_global_context_keys():
    now = datetime(2024, 6, 10, 12, 0, tzinfo=UTC)
    role = resolve_principal(f"arn:aws:sts::{ACCOUNT}:assumed-role/Operator/s1", ACCOUNT)
    g = global_context(role, now=now, region="us-west-2", source_ip="192.0.2.10",
                       via_service="ecs.amazonaws.com", tags={"Team": "blue"})
    assert g["aws:PrincipalArn"] == ROLE
    assert g["aws:PrincipalAccount"] == ACCOUNT
    assert g["aws:PrincipalType"] == "AssumedRole"
    assert g["aws:userid"] == f"{role.unique_id}:s1"
    assert "aws:username" not in g
    assert g["aws:PrincipalTag/Team"] == "blue"
    assert g["aws:CurrentTime"] == "2024-06-10T12:00:00Z"
    assert g["aws:EpochTime"] == int(now.timestamp())
    assert g["aws:RequestedRegion"] == "us-west-2"
    assert g["aws:SourceIp"] == "192.0.2.10"
    assert g["aws:SecureTransport"] is True
    assert g["aws:ViaAWSService"] is True
    user = global_context(resolve_principal(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT),
                          now=now, region="us-west-2")
    assert user["aws:username"] == "alice" and user["aws:PrincipalType"] == "User"
    assert user["aws:ViaAWSService"] is False and "aws:SourceIp" not in user
    svc = global_context(resolve_principal("fargate.amazonaws.com", ACCOUNT), now=now,
                         region="us-west-2")
    assert svc["aws:PrincipalServiceName"] == "fargate.amazonaws.com"
    assert svc["aws:PrincipalIsAWSService"] is True
    assert "aws:PrincipalArn" not in svc
    root = global_context(resolve_principal(ACCOUNT, ACCOUNT), now=now, region="us-west-2")
    assert root["aws:PrincipalType"] == "Account" and root["aws:userid"] == ACCOUNT


def test_authorize_allows_with_an_approved_key(iam_sim, operator):
    d = authorize(iam_sim, operator, "ecs:CreateCluster", CLUSTER, {CLUSTER_KEY: EXAMPLE_KEY_ARN})
    assert d.allowed


def test_authorize_raises_access_denied_with_aws_wording(iam_sim, operator):
    with pytest.raises(AccessDeniedException) as info:
        authorize(iam_sim, operator, "ecs:CreateCluster", CLUSTER)
    assert info.value.message == (
        f"User: {ROLE} is not authorized to perform: ecs:CreateCluster on resource: {CLUSTER} "
        "with an explicit deny in an identity-based policy"
    )
    decision = info.value.details["evaluation"]
    assert decision.decision == "explicitDeny"
    with pytest.raises(AccessDeniedException) as info:
        authorize(iam_sim, operator, "ecs:CreateCluster", CLUSTER,
                  {CLUSTER_KEY: EXAMPLE_KEY_ARN.replace("1111", "2222")})
    assert info.value.message.endswith(
        "because no identity-based policy allows the ecs:CreateCluster action"
    )


def test_authorize_without_raising(iam_sim, operator):
    d = authorize(iam_sim, operator, "ecs:RunTask", CLUSTER, raise_on_deny=False)
    assert d.decision == "implicitDeny"


def test_authorize_uses_principal_tags_and_clock(iam_sim, iam, operator):
    iam.put_role_policy(RoleName="Operator", PolicyName="tagged", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ecs:DescribeClusters", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/Team": "storage"},
                          "DateGreaterThan": {"aws:CurrentTime": "2000-01-01T00:00:00Z"}}}]}))
    assert authorize(iam_sim, ROLE, "ecs:DescribeClusters", CLUSTER).allowed
    request = request_context(iam_sim, ROLE, "ecs:DescribeClusters", CLUSTER)
    assert request.get("aws:principaltag/team") == ("storage",)
    assert request.get("aws:RequestedRegion") == ("us-west-2",)


def test_authorize_root_and_services(iam_sim):
    assert authorize(iam_sim, ACCOUNT, "ecs:CreateCluster", CLUSTER).allowed
    with pytest.raises(AccessDeniedException):
        authorize(iam_sim, "fargate.amazonaws.com", "ecs:CreateCluster", CLUSTER)
    key_policy = PolicyDocument.parse({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "fargate.amazonaws.com"},
        "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*"}]}, kind="resource")
    d = authorize(iam_sim, "fargate.amazonaws.com", "kms:GenerateDataKeyWithoutPlaintext",
                  EXAMPLE_KEY_ARN, resource_policy=key_policy)
    assert d.allowed


def test_authorize_cross_account(iam_sim):
    foreign = f"arn:aws:iam::{OTHER}:role/X"
    with pytest.raises(AccessDeniedException) as info:
        authorize(iam_sim, foreign, "kms:Decrypt", EXAMPLE_KEY_ARN)
    assert "no resource-based policy allows" in info.value.message


def test_unknown_role_has_no_policies(iam_sim):
    with pytest.raises(AccessDeniedException):
        authorize(iam_sim, f"arn:aws:iam::{ACCOUNT}:role/Ghost", "ecs:ListClusters", "*")


def test_policies_follow_changes(iam_sim, iam, operator):
    assert not authorize(iam_sim, operator, "kms:Decrypt", "*", raise_on_deny=False).allowed
    iam.put_role_policy(RoleName="Operator", PolicyName="kms", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt",
                                               "Resource": "*"}]}))
    assert authorize(iam_sim, operator, "kms:Decrypt", "*").allowed
    iam.delete_role_policy(RoleName="Operator", PolicyName="kms")
    assert not authorize(iam_sim, operator, "kms:Decrypt", "*", raise_on_deny=False).allowed
