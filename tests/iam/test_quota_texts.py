"""IAM's per-account and per-entity quotas: LimitExceeded (409) in the words IAM answers with.

The texts are IAM's as real responses quote them (the sources are cited beside each quota in
simulator/iam); the PoliciesPerAccount text and GetPolicyVersion's missing-version text have
no recorded AWS answer and follow the same pattern (marked in the code as assumptions).
"""

from __future__ import annotations

import json

import pytest

from simulator.errors import ClientError
from simulator.iam import core
from tests.iam.helpers import ACCOUNT

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})


def _doc(n: int) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "kms:Decrypt", "Resource": f"arn:aws:kms:*:*:key/{n}"}]})


def _refused(call, **params) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as info:
        call(**params)
    return info.value.code, info.value.message, info.value.status


def _iam_core(iam_sim):
    return iam_sim.service("iam")


def test_roles_per_account(iam, iam_sim):
    entities = _iam_core(iam_sim).entities["Role"]
    iam.create_role(RoleName="real", AssumeRolePolicyDocument=TRUST)
    template = next(iter(entities.values()))
    for i in range(1, 1000):  # the quota counts the account's roles, however they came
        entities[(ACCOUNT, f"filler{i}")] = template
    assert _refused(iam.create_role, RoleName="one-more", AssumeRolePolicyDocument=TRUST) == (
        "LimitExceeded", "Cannot exceed quota for RolesPerAccount: 1000", 409)
    del entities[(ACCOUNT, "filler1")]
    iam.create_role(RoleName="one-more", AssumeRolePolicyDocument=TRUST)


def test_users_per_account(iam, iam_sim):
    entities = _iam_core(iam_sim).entities["User"]
    iam.create_user(UserName="real")
    template = next(iter(entities.values()))
    for i in range(1, 5000):
        entities[(ACCOUNT, f"filler{i}")] = template
    assert _refused(iam.create_user, UserName="one-more") == (
        "LimitExceeded", "Cannot exceed quota for UsersPerAccount: 5000", 409)


def test_policies_per_account(iam, iam_sim):
    policies = _iam_core(iam_sim).policies
    arn = iam.create_policy(PolicyName="real", PolicyDocument=_doc(0))["Policy"]["Arn"]
    own = sum(1 for a in policies if f":{ACCOUNT}:" in a)
    for i in range(core.MANAGED_POLICIES_PER_ACCOUNT - own):
        policies[f"arn:aws:iam::{ACCOUNT}:policy/filler{i}"] = policies[arn]
    assert _refused(iam.create_policy, PolicyName="one-more", PolicyDocument=_doc(1)) == (
        "LimitExceeded", "Cannot exceed quota for PoliciesPerAccount: 1500", 409)


def test_policy_versions(iam):
    arn = iam.create_policy(PolicyName="p", PolicyDocument=_doc(0))["Policy"]["Arn"]
    for n in range(1, 5):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=_doc(n))
    assert _refused(iam.create_policy_version, PolicyArn=arn, PolicyDocument=_doc(9)) == (
        "LimitExceeded", "A managed policy can have up to 5 versions. Before you create a new "
        "version, you must delete an existing version.", 409)


def test_access_keys_per_user(iam):
    iam.create_user(UserName="alice")
    iam.create_access_key(UserName="alice")
    iam.create_access_key(UserName="alice")
    assert _refused(iam.create_access_key, UserName="alice") == (
        "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)


@pytest.mark.parametrize(("kind", "quota"), [("role", "PoliciesPerRole"),
                                             ("user", "PoliciesPerUser")])
def test_attached_policies_per_entity(iam, kind, quota):
    if kind == "role":
        iam.create_role(RoleName="e", AssumeRolePolicyDocument=TRUST)
        attach, name = iam.attach_role_policy, {"RoleName": "e"}
    else:
        iam.create_user(UserName="e")
        attach, name = iam.attach_user_policy, {"UserName": "e"}
    arns = [iam.create_policy(PolicyName=f"p{i}", PolicyDocument=_doc(i))["Policy"]["Arn"]
            for i in range(11)]
    for arn in arns[:10]:
        attach(PolicyArn=arn, **name)
    assert _refused(attach, PolicyArn=arns[10], **name) == (
        "LimitExceeded", f"Cannot exceed quota for {quota}: 10", 409)


def test_get_policy_version_of_a_missing_version(iam):
    arn = iam.create_policy(PolicyName="p", PolicyDocument=_doc(0))["Policy"]["Arn"]
    code, message, status = _refused(iam.get_policy_version, PolicyArn=arn, VersionId="v7")
    assert (code, status) == ("NoSuchEntity", 404)
    assert message == f"Policy {arn} version v7 does not exist or is not attachable."
