"""The seed page's policies (tests/iam/seed_policies/) in the allowing and the denying cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.iam import PolicyDocument, RequestContext, evaluate
from simulator.iam.seed import (
    EXAMPLE_KEY_ARN,
    seed_allow_approved_keys,
    seed_deny_without_key,
    seed_key_policy,
)
from tests.iam.helpers import ACCOUNT, OTHER, principal

HERE = Path(__file__).parent / "seed_policies"
KEY = EXAMPLE_KEY_ARN
FARGATE = "fargate.amazonaws.com"
OPERATOR = f"arn:aws:iam::{ACCOUNT}:role/customer-chosen-role"
CLUSTER_KEY = "ecs:fargate-ephemeral-storage-kms-key"


def load(name, kind="identity"):
    return PolicyDocument.parse((HERE / name).read_text(), kind=kind, name=name)


KEY_POLICY = load("key_policy.json", "resource")
ALLOW_KEYS = load("allow_approved_keys.json")
DENY_NO_KEY = load("deny_without_key.json")


def ctx(account=ACCOUNT, cluster="clusterName", **extra):
    return {
        "kms:EncryptionContext:aws:ecs:clusterAccount": account,
        "kms:EncryptionContext:aws:ecs:clusterName": cluster,
        **extra,
    }


def kms(caller, action, context=None, identity=()):
    request = RequestContext(principal(caller), action, KEY, context or {})
    return evaluate(request, list(identity), KEY_POLICY, resource_policy_required=True)


def test_files_match_the_builders():
    assert json.loads((HERE / "key_policy.json").read_text()) == seed_key_policy()
    assert json.loads((HERE / "allow_approved_keys.json").read_text()) == (
        seed_allow_approved_keys()
    )
    assert json.loads((HERE / "deny_without_key.json").read_text()) == seed_deny_without_key()


# -- key policy -------------------------------------------------------------------------------
def test_fargate_generate_data_key_allowed():
    d = kms(FARGATE, "kms:GenerateDataKeyWithoutPlaintext", ctx())
    assert d.allowed
    assert d.matched_statements[0].sid == "Allow generate data key access for Fargate tasks."
    assert d.matched_statements[0].principal_match == "direct"


@pytest.mark.parametrize(
    ("context", "failing_key"),
    [
        (ctx(account=OTHER), "kms:EncryptionContext:aws:ecs:clusterAccount"),
        (ctx(cluster="other"), "kms:EncryptionContext:aws:ecs:clusterName"),
        ({"kms:EncryptionContext:aws:ecs:clusterName": "clusterName"},
         "kms:EncryptionContext:aws:ecs:clusterAccount"),
    ],
)
def test_fargate_generate_data_key_denied_for_other_account_or_cluster(context, failing_key):
    d = kms(FARGATE, "kms:GenerateDataKeyWithoutPlaintext", context)
    assert d.decision == "implicitDeny"
    failed = [line for line in d.explanation if failing_key in line and line.endswith("false")]
    assert failed, d.explain()


def test_fargate_create_grant_for_decrypt_only():
    assert kms(FARGATE, "kms:CreateGrant", ctx(**{"kms:GrantOperations": ["Decrypt"]})).allowed


def test_fargate_create_grant_asking_for_more_is_refused():
    d = kms(FARGATE, "kms:CreateGrant", ctx(**{"kms:GrantOperations": ["Decrypt", "Encrypt"]}))
    assert d.decision == "implicitDeny"
    assert any('not allowed: ["Encrypt"]' in line for line in d.explanation), d.explain()


def test_fargate_cannot_decrypt_without_a_grant():
    d = kms(FARGATE, "kms:Decrypt", ctx())
    assert d.decision == "implicitDeny"


def test_operator_role_may_describe_the_key():
    assert kms(OPERATOR, "kms:DescribeKey").allowed
    assert not kms(OPERATOR, "kms:Decrypt").allowed


def test_other_roles_need_an_iam_policy_through_the_root_statement():
    other = f"arn:aws:iam::{ACCOUNT}:role/Other"
    assert not kms(other, "kms:DescribeKey").allowed
    iam_allow = PolicyDocument.parse(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": KEY}]}
    )
    d = kms(other, "kms:DescribeKey", identity=[iam_allow])
    assert d.allowed
    assert {m.principal_match for m in d.matched_statements} == {"account", None}


def test_account_root_administers_the_key():
    assert kms(ACCOUNT, "kms:ScheduleKeyDeletion").allowed
    assert not kms(OTHER, "kms:DescribeKey").allowed


# -- identity policies on CreateCluster / UpdateCluster -------------------------------------
def ecs(action, context):
    request = RequestContext(principal(OPERATOR), action, "*", context)
    return evaluate(request, [ALLOW_KEYS, DENY_NO_KEY])


@pytest.mark.parametrize("action", ["ecs:CreateCluster", "ecs:UpdateCluster"])
def test_cluster_with_an_approved_key_is_allowed(action):
    assert ecs(action, {CLUSTER_KEY: KEY}).allowed


def test_cluster_with_another_key_is_implicitly_denied():
    other_key = KEY.replace("EXAMPLE11111", "EXAMPLE22222")
    d = ecs("ecs:CreateCluster", {CLUSTER_KEY: other_key})
    assert d.decision == "implicitDeny"


def test_cluster_without_a_key_is_explicitly_denied_by_the_null_condition():
    d = ecs("ecs:CreateCluster", {})
    assert d.decision == "explicitDeny"
    assert d.matched_statements[0].policy_name == "deny_without_key.json"
    assert any("Null ecs:fargate-ephemeral-storage-kms-key" in line and line.endswith("true")
               for line in d.explanation)
    assert CLUSTER_KEY in d.missing_context_values


def test_deny_without_key_does_not_touch_other_actions():
    d = ecs("ecs:RunTask", {})
    assert d.decision == "implicitDeny"
