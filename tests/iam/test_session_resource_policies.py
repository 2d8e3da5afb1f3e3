"""Session policies and permissions boundaries against resource policies, as AWS documents:
a same-account resource policy naming the session's own ARN (or "*") is not limited by them;
one naming the role's ARN is (IAM User Guide, "Session policies" and "How AWS enforcement code
logic evaluates requests")."""

from __future__ import annotations

import dataclasses
import json

import pytest

from simulator.errors import ClientError
from simulator.iam import PolicyDocument, RequestContext, evaluate
from simulator.iam.authorization import access_denied
from simulator.iam.principal import resolve_principal
from tests.iam.helpers import ACCOUNT, OTHER, identity

KEY = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/k"
FOREIGN_KEY = f"arn:aws:kms:us-west-2:{OTHER}:key/k"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/R"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s1"
OTHER_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/R/s2"

ROLE_ALLOWS_KMS = identity({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}, name="role")
ONLY_LIST = identity({"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"},
                     name="session policy")
DENY_DECRYPT = identity({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"},
                        name="session policy")
BOUNDARY_LIST = identity({"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"},
                         name="boundary")


def key_policy(aws_principal, *, kind="resource"):
    principal = aws_principal if aws_principal == "*" else {"AWS": aws_principal}
    return PolicyDocument.parse({"Version": "2012-10-17", "Statement": [
        {"Sid": "Named", "Effect": "Allow", "Principal": principal, "Action": "kms:Decrypt",
         "Resource": "*"}]}, kind=kind, name="key policy")


def session(*session_policies, arn=SESSION):
    return dataclasses.replace(resolve_principal(arn, ACCOUNT),
                               session_policies=tuple(session_policies))


def decide(caller, resource_policy, identity_policies=(), boundary=None, resource=KEY,
           required=True):
    request = RequestContext(caller, "kms:Decrypt", resource, {})
    return evaluate(request, list(identity_policies), resource_policy, None, boundary,
                    resource_policy_required=required)


@pytest.mark.parametrize("required", [True, False], ids=["key-policy", "resource-policy"])
def test_a_grant_naming_the_session_arn_is_not_limited_by_the_session_policy(required):
    d = decide(session(ONLY_LIST), key_policy(SESSION), required=required)
    assert d.allowed, d.explain()
    assert d.to_session
    assert "names the session's own ARN" in d.reason


def test_the_reason_names_the_statement_that_names_the_session_and_how():
    star = decide(session(ONLY_LIST), key_policy("*"))
    assert star.allowed and "names every principal (*)" in star.reason
    both = PolicyDocument.parse({"Version": "2012-10-17", "Statement": [
        {"Sid": "Role", "Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "kms:Decrypt",
         "Resource": "*"},
        {"Sid": "Session", "Effect": "Allow", "Principal": {"AWS": SESSION},
         "Action": "kms:Decrypt", "Resource": "*"}]}, kind="resource", name="key policy")
    d = decide(session(ONLY_LIST), both)
    assert d.allowed and '"Session"' in d.reason and '"Role"' not in d.reason
    assert "names the session's own ARN" in d.reason


@pytest.mark.parametrize("required", [True, False], ids=["key-policy", "resource-policy"])
def test_a_grant_naming_the_role_arn_is_limited_by_the_session_policy(required):
    d = decide(session(ONLY_LIST), key_policy(ROLE), required=required)
    assert d.decision == "implicitDeny"
    assert d.denied_by == "session"
    assert d.access_denied_message().endswith(
        "because no session policy allows the kms:Decrypt action")
    assert "key policy" in d.reason and "no session policy" in d.reason


def test_a_grant_naming_another_session_of_the_role_does_not_apply():
    d = decide(session(ONLY_LIST), key_policy(OTHER_SESSION))
    assert not d.allowed


def test_a_wildcard_principal_is_not_limited_by_the_session_policy():
    # "Permissions boundaries and session policies do not limit permissions granted using the
    # aws:PrincipalArn condition key with a wildcard(*) in the Principal element"
    assert decide(session(ONLY_LIST), key_policy("*")).allowed


def test_an_explicit_deny_in_the_session_policy_still_denies_a_session_grant():
    d = decide(session(DENY_DECRYPT), key_policy(SESSION))
    assert d.decision == "explicitDeny" and d.denied_by == "session"
    assert d.access_denied_message().endswith("with an explicit deny in a session policy")


def test_without_session_policies_nothing_changes():
    assert decide(session(), key_policy(ROLE)).allowed
    assert decide(session(), key_policy(SESSION)).allowed


def test_cross_account_a_session_grant_still_needs_the_session_policy():
    # The exemption is "within the same account"; across accounts the identity side (which
    # the session policy limits) must allow as well.
    d = decide(session(ONLY_LIST), key_policy(SESSION), [ROLE_ALLOWS_KMS],
               resource=FOREIGN_KEY)
    assert d.decision == "implicitDeny" and d.denied_by == "session"


def test_a_permissions_boundary_limits_a_grant_naming_the_role_arn():
    # "Resource-based policies that grant permissions to an IAM role ARN are limited by an
    # implicit deny in a permissions boundary or session policy."
    caller = session()
    d = decide(caller, key_policy(ROLE), boundary=BOUNDARY_LIST)
    assert d.decision == "implicitDeny" and d.denied_by == "boundary"
    assert d.access_denied_message().endswith(
        "because no permissions boundary allows the kms:Decrypt action")
    assert "names the role's ARN" in d.reason
    # ... and not one naming the session: "Permissions granted directly to a session are not
    # limited by an implicit deny in an identity-based policy, a permissions boundary, or
    # session policy."
    assert decide(caller, key_policy(SESSION), boundary=BOUNDARY_LIST).allowed


def test_a_grant_naming_an_iam_user_is_not_limited_by_its_boundary():
    user = resolve_principal(f"arn:aws:iam::{ACCOUNT}:user/alice", ACCOUNT)
    assert decide(user, key_policy(user.arn), boundary=BOUNDARY_LIST).allowed


def test_the_refusal_says_which_policy_denied_beside_aws_sentence():
    exc = access_denied(decide(session(ONLY_LIST), key_policy(ROLE)))
    assert exc.message.endswith("because no session policy allows the kms:Decrypt action")
    assert "no session policy does" in exc.explanation
    assert "Named" in exc.explanation  # the key policy statement that allowed the role
    exc = access_denied(decide(session(DENY_DECRYPT), key_policy(SESSION)))
    assert exc.explanation.startswith("explicitly denied by") and "session policy" in (
        exc.explanation)


# -- the denying policy's ARN in AccessDenied --------------------------------------------------
def _managed(arn, statement):
    return PolicyDocument.parse({"Version": "2012-10-17", "Statement": [statement]}, name=arn,
                                source_type="user-managed")


DENY_MANAGED = _managed(f"arn:aws:iam::{ACCOUNT}:policy/NoDecrypt",
                        {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"})


def test_an_explicit_deny_names_the_same_account_managed_policy():
    # "we recently added the Amazon Resource Name (ARN) of the denying policy to access denied
    # error messages ... only provided in same-account and same-organization scenarios"
    # (AWS Security Blog, "Enhanced access denied error messages with policy ARNs").
    d = decide(session(), key_policy(ROLE), [ROLE_ALLOWS_KMS, DENY_MANAGED])
    assert d.access_denied_message().endswith(
        f"with an explicit deny in an identity-based policy: arn:aws:iam::{ACCOUNT}:policy/"
        "NoDecrypt")
    as_session = decide(session(DENY_MANAGED), key_policy(SESSION))
    assert as_session.access_denied_message().endswith(
        f"with an explicit deny in a session policy: arn:aws:iam::{ACCOUNT}:policy/NoDecrypt")


def test_no_arn_for_inline_policies_or_across_accounts():
    inline = identity({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}, name="deny")
    d = decide(session(), key_policy(ROLE), [ROLE_ALLOWS_KMS, inline])
    assert d.access_denied_message().endswith("with an explicit deny in an identity-based policy")
    d = decide(session(), key_policy(SESSION), [ROLE_ALLOWS_KMS, DENY_MANAGED],
               resource=FOREIGN_KEY)
    assert d.access_denied_message().endswith("with an explicit deny in an identity-based policy")


def test_iam_names_the_managed_policy_that_denied(iam, iam_sim):
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]})
    iam.create_role(RoleName="R", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="R", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:*", "Resource": "*"}]}))
    arn = iam.create_policy(PolicyName="NoUsers", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Deny", "Action": "iam:CreateUser", "Resource": "*"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="R", PolicyArn=arn)
    with pytest.raises(ClientError) as info:
        iam_sim.client("iam", principal=SESSION).create_user(UserName="u")
    assert (info.value.code, info.value.status) == ("AccessDenied", 403)
    assert info.value.message == (
        f"User: {SESSION} is not authorized to perform: iam:CreateUser on resource: "
        f"arn:aws:iam::{ACCOUNT}:user/u with an explicit deny in an identity-based policy: "
        f"{arn}")
