"""A key in one account, the cluster in another: key policy there plus IAM policy here."""

from __future__ import annotations

import json

import pytest

from simulator import errors
from tests.ecs.helpers import ACCOUNT, OPERATOR, OPERATOR_NAME, TRUST, allow, policy, register, run

KEY_ACCOUNT = "444455556666"
CLUSTER = "xacct"


def key_policy(operator_describe: bool = True) -> str:
    context = {"kms:EncryptionContext:aws:ecs:clusterAccount": [ACCOUNT],
               "kms:EncryptionContext:aws:ecs:clusterName": [CLUSTER]}
    statements = [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{KEY_ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"Service": "fargate.amazonaws.com"},
         "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*",
         "Condition": {"StringEquals": context}},
        {"Effect": "Allow", "Principal": {"Service": "fargate.amazonaws.com"},
         "Action": "kms:CreateGrant", "Resource": "*",
         "Condition": {"StringEquals": context,
                       "ForAllValues:StringEquals": {"kms:GrantOperations": ["Decrypt"]}}},
    ]
    if operator_describe:
        statements.append({"Effect": "Allow", "Principal": {"AWS": OPERATOR},
                           "Action": "kms:DescribeKey", "Resource": "*"})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def setup(sim, *, key_policy_names_operator: bool, iam_allows_describe: bool) -> str:
    key = sim.client("kms", principal=f"arn:aws:iam::{KEY_ACCOUNT}:root").create_key(
        Policy=key_policy(key_policy_names_operator))["KeyMetadata"]["Arn"]
    iam = sim.client("iam")
    iam.create_role(RoleName=OPERATOR_NAME, AssumeRolePolicyDocument=TRUST)
    statements = [allow(["ecs:*"])]
    if iam_allows_describe:
        statements.append(allow("kms:DescribeKey", key))
    iam.put_role_policy(RoleName=OPERATOR_NAME, PolicyName="ops",
                        PolicyDocument=policy(*statements))
    return key


def create(sim, key):
    return sim.client("ecs", principal=OPERATOR).create_cluster(
        clusterName=CLUSTER,
        configuration={"managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": key}})


@pytest.mark.parametrize(("in_key_policy", "in_iam", "allowed"), [
    (True, True, True),     # both halves: allowed
    (True, False, False),   # key policy only: cross-account needs the caller's IAM policy too
    (False, True, False),   # IAM only: the key's account never delegated to this account
])
def test_describe_key_needs_both_policies(sim, in_key_policy, in_iam, allowed):
    key = setup(sim, key_policy_names_operator=in_key_policy, iam_allows_describe=in_iam)
    if allowed:
        assert create(sim, key)["cluster"]["status"] == "ACTIVE"
        return
    with pytest.raises(errors.InvalidParameterException, match="kms:DescribeKey was denied"):
        create(sim, key)


def test_tasks_use_the_other_accounts_key(sim):
    key = setup(sim, key_policy_names_operator=True, iam_allows_describe=True)
    create(sim, key)
    before = len(sim.audit_trail)
    [task] = run(sim, register(sim), cluster=CLUSTER)
    assert task["lastStatus"] == "RUNNING"
    assert task["fargateEphemeralStorage"]["kmsKeyId"] == key
    recs = [r for r in sim.audit_trail[before:] if r["eventSource"] == "kms.amazonaws.com"]
    assert len(recs) == 5
    assert {r["recipientAccountId"] for r in recs} == {KEY_ACCOUNT}
    ctx = recs[2]["requestParameters"]["encryptionContext"]
    assert ctx["aws:ecs:clusterAccount"] == ACCOUNT
