"""Combining identity policies, resource policies and boundaries into one decision."""

from __future__ import annotations

import pytest

from simulator.iam import PolicyDocument, RequestContext, evaluate
from tests.iam.helpers import ACCOUNT, OTHER, identity, principal

KEY = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/k"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/R"
FOREIGN_ROLE = f"arn:aws:iam::{OTHER}:role/F"

ALLOW_DECRYPT = identity({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}, name="a")
DENY_DECRYPT = identity({"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}, name="d")


def resource_policy(*principals_and_effects):
    stmts = [
        {"Effect": effect, "Principal": p, "Action": "kms:*", "Resource": "*"}
        for p, effect in principals_and_effects
    ]
    return PolicyDocument.parse({"Version": "2012-10-17", "Statement": stmts},
                                kind="resource", name="key-policy")


def req(caller=ROLE, action="kms:Decrypt", resource=KEY, context=None):
    return RequestContext(principal(caller), action, resource, context or {})


def test_identity_allow_same_account():
    d = evaluate(req(), [ALLOW_DECRYPT])
    assert d.decision == "allowed" and d.allowed
    assert [m.policy_name for m in d.matched_statements] == ["a"]


def test_no_policy_is_an_implicit_deny():
    d = evaluate(req(), [])
    assert d.decision == "implicitDeny" and not d.allowed
    assert "no identity-based policy allows the kms:Decrypt action" in d.access_denied_message()


def test_explicit_deny_wins_over_allow():
    d = evaluate(req(), [ALLOW_DECRYPT, DENY_DECRYPT])
    assert d.decision == "explicitDeny"
    assert [m.policy_name for m in d.matched_statements] == ["d"]
    assert d.access_denied_message() == (
        f"User: {ROLE} is not authorized to perform: kms:Decrypt on resource: {KEY} "
        "with an explicit deny in an identity-based policy"
    )


def test_explicit_deny_in_resource_policy_wins():
    rp = resource_policy(({"AWS": ROLE}, "Deny"))
    d = evaluate(req(), [ALLOW_DECRYPT], rp)
    assert d.decision == "explicitDeny"
    assert "explicit deny in a resource-based policy" in d.access_denied_message()


def test_same_account_resource_policy_direct_allow_is_enough():
    d = evaluate(req(), [], resource_policy(({"AWS": ROLE}, "Allow")))
    assert d.allowed


def test_same_account_account_delegation_needs_identity_allow():
    rp = resource_policy(({"AWS": ACCOUNT}, "Allow"))
    assert not evaluate(req(), [], rp).allowed
    assert evaluate(req(), [ALLOW_DECRYPT], rp).allowed


def test_cross_account_needs_both_sides():
    rp_direct = resource_policy(({"AWS": FOREIGN_ROLE}, "Allow"))
    rp_account = resource_policy(({"AWS": OTHER}, "Allow"))
    assert not evaluate(req(FOREIGN_ROLE), [ALLOW_DECRYPT]).allowed  # no resource policy
    d = evaluate(req(FOREIGN_ROLE), [ALLOW_DECRYPT])
    assert "no resource-based policy allows" in d.access_denied_message()
    assert d.cross_account
    assert not evaluate(req(FOREIGN_ROLE), [], rp_direct).allowed  # no identity allow
    assert evaluate(req(FOREIGN_ROLE), [ALLOW_DECRYPT], rp_direct).allowed
    assert evaluate(req(FOREIGN_ROLE), [ALLOW_DECRYPT], rp_account).allowed


def test_account_root_is_allowed_on_the_identity_side():
    assert evaluate(req(ACCOUNT), []).allowed
    rp = resource_policy(({"AWS": ACCOUNT}, "Allow"))
    assert evaluate(req(ACCOUNT), [], rp).allowed
    # another account's root needs the resource policy
    assert not evaluate(req(OTHER), []).allowed
    assert evaluate(req(OTHER), [], resource_policy(({"AWS": OTHER}, "Allow"))).allowed


def test_service_principals_only_through_resource_policies():
    svc = "fargate.amazonaws.com"
    assert not evaluate(req(svc), [ALLOW_DECRYPT]).allowed
    assert evaluate(req(svc), [], resource_policy(({"Service": svc}, "Allow"))).allowed
    assert not evaluate(req(svc), [], resource_policy(({"AWS": ACCOUNT}, "Allow"))).allowed


def test_permissions_boundary_limits_identity_allows():
    boundary = identity({"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}, name="b")
    d = evaluate(req(), [ALLOW_DECRYPT], permissions_boundary=boundary)
    assert d.decision == "implicitDeny"
    assert "no permissions boundary allows" in d.access_denied_message()
    wide = identity({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}, name="b")
    assert evaluate(req(), [ALLOW_DECRYPT], permissions_boundary=wide).allowed
    deny = identity({"Effect": "Deny", "Action": "kms:*", "Resource": "*"}, name="b")
    d = evaluate(req(), [ALLOW_DECRYPT], permissions_boundary=deny)
    assert d.decision == "explicitDeny" and "permissions boundary" in d.access_denied_message()


def test_resource_policy_required_mode_for_kms():
    # KMS: identity policies only count when the key policy delegates to the account
    assert not evaluate(req(), [ALLOW_DECRYPT], resource_policy(({"AWS": FOREIGN_ROLE}, "Allow")),
                        resource_policy_required=True).allowed
    delegating = resource_policy(({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Allow"))
    assert evaluate(req(), [ALLOW_DECRYPT], delegating, resource_policy_required=True).allowed
    assert not evaluate(req(), [], delegating, resource_policy_required=True).allowed
    assert evaluate(req(ACCOUNT), [], delegating, resource_policy_required=True).allowed
    direct = resource_policy(({"AWS": ROLE}, "Allow"))
    assert evaluate(req(), [], direct, resource_policy_required=True).allowed


def test_decision_explanation_and_evaluation_result():
    rp = resource_policy(({"AWS": ACCOUNT}, "Allow"))
    d = evaluate(req(), [ALLOW_DECRYPT], rp)
    text = d.explain()
    assert "allowed" in text.splitlines()[0]
    assert "names the caller's account" in text
    res = d.to_evaluation_result()
    assert res["EvalDecision"] == "allowed"
    # same account with a resource ARN: "the parameter is present but the response is empty"
    assert res["EvalDecisionDetails"] == {}
    assert res["MatchedStatements"][0]["SourcePolicyId"] == "a"


@pytest.mark.parametrize("resource", ["*", "arn:aws:s3:::bucket"])
def test_resource_without_account_is_same_account(resource):
    assert evaluate(req(resource=resource), [ALLOW_DECRYPT]).allowed


def test_explanation_says_why_statements_do_not_apply():
    doc = identity(
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "arn:aws:kms:*:*:key/other"},
        name="a",
    )
    d = evaluate(req(), [doc])
    text = d.explain()
    assert 'a Statement[0] (Allow): action kms:Decrypt does not match Action "kms:Encrypt"' in text
    assert f"a Statement[1] (Allow): resource {KEY} does not match Resource" in text
    rp = resource_policy(({"AWS": FOREIGN_ROLE}, "Allow"), ({"AWS": ACCOUNT}, "Allow"))
    d = evaluate(req(), [], rp)
    assert "delegates to the account" in d.reason
    d = evaluate(req(caller=f"arn:aws:iam::{ACCOUNT}:role/Z"), [],
                 resource_policy(({"AWS": FOREIGN_ROLE}, "Allow")))
    assert "is not named by Principal" in d.explain()
