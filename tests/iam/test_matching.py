"""Action, Resource and Principal matching, and policy variables."""

from __future__ import annotations

import pytest

from simulator.errors import MalformedPolicyDocumentException
from simulator.iam import PolicyDocument, RequestContext
from tests.iam.helpers import ACCOUNT, OTHER, identity, principal, request


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("kms:Decrypt", "kms:Decrypt", True),
        ("kms:Decrypt", "KMS:decrypt", True),  # actions are case-insensitive
        ("kms:*", "kms:CreateGrant", True),
        ("kms:Generate*", "kms:GenerateDataKeyWithoutPlaintext", True),
        ("kms:Generate*", "kms:Encrypt", False),
        ("kms:?ecrypt", "kms:Decrypt", True),
        ("kms:?ecrypt", "kms:ReEncrypt", False),
        ("*", "ecs:CreateCluster", True),
        ("kms:Decrypt", "kms:DecryptX", False),
        ("ecs:*Cluster", "ecs:UpdateCluster", True),
    ],
)
def test_action_wildcards(pattern, action, expected):
    doc = identity({"Effect": "Allow", "Action": pattern, "Resource": "*"})
    assert bool(doc.evaluate(request(action=action)).allows) is expected


def test_not_action():
    doc = identity({"Effect": "Allow", "NotAction": ["iam:*", "kms:ScheduleKeyDeletion"],
                    "Resource": "*"})
    assert doc.evaluate(request(action="kms:Decrypt")).allows
    assert not doc.evaluate(request(action="iam:CreateRole")).allows
    assert not doc.evaluate(request(action="kms:schedulekeydeletion")).allows


@pytest.mark.parametrize(
    ("pattern", "resource", "expected"),
    [
        ("*", "arn:aws:kms:us-west-2:111122223333:key/k", True),
        ("arn:aws:kms:us-west-2:111122223333:key/k", "arn:aws:kms:us-west-2:111122223333:key/k",
         True),
        ("arn:aws:kms:us-west-2:111122223333:key/K", "arn:aws:kms:us-west-2:111122223333:key/k",
         False),  # resources are case-sensitive
        ("arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:eu-west-1:111122223333:key/k", True),
        ("arn:aws:kms:*:111122223333:key/*", "arn:aws:kms:eu-west-1:444455556666:key/k", False),
        ("arn:aws:s3:::bucket/*", "arn:aws:s3:::bucket/a/b/c", True),
        ("arn:aws:s3:::bucket/?", "arn:aws:s3:::bucket/ab", False),
        ("arn:aws:ecs:us-west-2:111122223333:cluster/*",
         "arn:aws:ecs:us-west-2:111122223333:cluster/clusterName", True),
        # a * ending a segment may expand past the colon (IAM's documented behaviour)
        # (IAM itself refuses "arn:aws:iam::*": an IAM resource needs a path such as role/)
        ("arn:aws:kms:us-west-2:*", "arn:aws:kms:us-west-2:111122223333:key/x", True),
        ("arn:aws:iam::1111*:role/x", "arn:aws:iam::111122223333:role/x", True),
        # a * inside a segment stays in it
        ("arn:aws:kms:us-*-2:111122223333:key/k", "arn:aws:kms:us-west:x-2:111122223333:key/k",
         False),
        ("arn:aws:logs:us-west-2:111122223333:log-group:g:*",
         "arn:aws:logs:us-west-2:111122223333:log-group:g:log-stream:s", True),
    ],
)
def test_resource_matching(pattern, resource, expected):
    doc = identity({"Effect": "Allow", "Action": "*", "Resource": pattern})
    assert bool(doc.evaluate(request(resource=resource)).allows) is expected


def test_not_resource():
    doc = identity({"Effect": "Deny", "Action": "kms:*",
                    "NotResource": "arn:aws:kms:us-west-2:111122223333:key/good"})
    assert doc.evaluate(request(action="kms:Decrypt",
                                resource="arn:aws:kms:us-west-2:111122223333:key/bad")).denies
    assert not doc.evaluate(request(action="kms:Decrypt",
                                    resource="arn:aws:kms:us-west-2:111122223333:key/good")).denies


def key_policy(principal_element, **extra):
    return PolicyDocument.parse(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*", **principal_element, **extra}
        ]},
        kind="resource", name="key",
    )


@pytest.mark.parametrize(
    ("element", "caller", "expected"),
    [
        ({"Principal": "*"}, f"arn:aws:iam::{OTHER}:role/X", "direct"),
        ({"Principal": {"AWS": "*"}}, "fargate.amazonaws.com", "direct"),
        ({"Principal": {"AWS": ACCOUNT}}, f"arn:aws:iam::{ACCOUNT}:role/X", "account"),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}},
         f"arn:aws:iam::{ACCOUNT}:user/U", "account"),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}, ACCOUNT, "direct"),
        ({"Principal": {"AWS": ACCOUNT}}, f"arn:aws:iam::{OTHER}:role/X", None),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/X"}},
         f"arn:aws:iam::{ACCOUNT}:role/X", "direct"),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/X"}},
         f"arn:aws:sts::{ACCOUNT}:assumed-role/X/session-1", "direct"),
        ({"Principal": {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/X/session-1"}},
         f"arn:aws:sts::{ACCOUNT}:assumed-role/X/session-1", "direct"),
        ({"Principal": {"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/X/session-1"}},
         f"arn:aws:sts::{ACCOUNT}:assumed-role/X/session-2", None),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/X"}},
         f"arn:aws:iam::{ACCOUNT}:role/Y", None),
        ({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/U"}},
         f"arn:aws:iam::{ACCOUNT}:user/U", "direct"),
        ({"Principal": {"Service": "fargate.amazonaws.com"}}, "fargate.amazonaws.com", "direct"),
        ({"Principal": {"Service": ["ec2.amazonaws.com", "fargate.amazonaws.com"]}},
         "fargate.amazonaws.com", "direct"),
        ({"Principal": {"Service": "fargate.amazonaws.com"}}, "ec2.amazonaws.com", None),
        # a service principal is not a member of any account's principals
        ({"Principal": {"AWS": ACCOUNT}}, "fargate.amazonaws.com", None),
        ({"Principal": {"Service": "fargate.amazonaws.com"}}, f"arn:aws:iam::{ACCOUNT}:root",
         None),
        ({"NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/X"}},
         f"arn:aws:iam::{ACCOUNT}:role/Y", "direct"),
        # NotPrincipal exempts a caller only when its whole chain is listed: "AWS verifies
        # the account first, then the role, and finally the assumed-role user"
        ({"NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/X"}},
         f"arn:aws:iam::{ACCOUNT}:role/X", "direct"),
        ({"NotPrincipal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/X", ACCOUNT]}},
         f"arn:aws:iam::{ACCOUNT}:role/X", None),
        ({"NotPrincipal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:role/X", ACCOUNT]}},
         f"arn:aws:sts::{ACCOUNT}:assumed-role/X/session-1", "direct"),
        ({"NotPrincipal": {"AWS": [f"arn:aws:sts::{ACCOUNT}:assumed-role/X/session-1",
                                   f"arn:aws:iam::{ACCOUNT}:role/X",
                                   f"arn:aws:iam::{ACCOUNT}:root"]}},
         f"arn:aws:sts::{ACCOUNT}:assumed-role/X/session-1", None),
        ({"NotPrincipal": {"AWS": [f"arn:aws:iam::{ACCOUNT}:user/U", ACCOUNT]}},
         f"arn:aws:iam::{ACCOUNT}:user/U", None),
        ({"NotPrincipal": {"AWS": ACCOUNT}}, f"arn:aws:iam::{ACCOUNT}:user/U", "direct"),
        ({"NotPrincipal": {"AWS": ACCOUNT}}, ACCOUNT, None),
        ({"NotPrincipal": {"Service": "fargate.amazonaws.com"}}, "fargate.amazonaws.com",
         None),
    ],
)
def test_principal_matching(element, caller, expected):
    doc = key_policy(element)
    result = doc.evaluate(RequestContext(principal(caller), "kms:Decrypt", "*"))
    got = result.allows[0].principal_match if result.allows else None
    assert got == expected


# -- variables --------------------------------------------------------------------------------
def test_username_variable_in_resource():
    doc = identity({"Effect": "Allow", "Action": "s3:*",
                    "Resource": "arn:aws:s3:::home/${aws:username}/*"})
    user = f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert doc.evaluate(request(caller=user, resource="arn:aws:s3:::home/alice/f")).allows
    assert not doc.evaluate(request(caller=user, resource="arn:aws:s3:::home/bob/f")).allows
    # a role has no aws:username: the element does not match
    result = doc.evaluate(request(resource="arn:aws:s3:::home/alice/f"))
    assert not result.allows


def test_variables_only_with_2012_version():
    stmt = {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::home/${aws:username}"}
    user = f"arn:aws:iam::{ACCOUNT}:user/alice"
    # IAM refuses an identity policy of an older version outright ...
    with pytest.raises(MalformedPolicyDocumentException) as info:
        identity(stmt, version="2008-10-17")
    assert info.value.message == "Policy document must be version 2012-10-17 or greater."
    # ... a resource policy of 2008-10-17 is taken, and reads ${...} literally
    old = PolicyDocument.parse({"Version": "2008-10-17", "Statement": [{**stmt, "Principal": "*"}]},
                               kind="resource")
    assert not old.evaluate(request(caller=user, resource="arn:aws:s3:::home/alice")).allows
    assert old.evaluate(request(caller=user, resource="arn:aws:s3:::home/${aws:username}")).allows


def test_variable_default_value():
    doc = identity({"Effect": "Allow", "Action": "s3:*",
                    "Resource": "arn:aws:s3:::home/${aws:username, 'anon'}"})
    assert doc.evaluate(request(resource="arn:aws:s3:::home/anon")).allows  # a role: no username
    user = f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert doc.evaluate(request(caller=user, resource="arn:aws:s3:::home/alice")).allows
    assert not doc.evaluate(request(caller=user, resource="arn:aws:s3:::home/anon")).allows


def test_special_character_variables_are_literal():
    doc = identity({"Effect": "Allow", "Action": "s3:*",
                    "Resource": "arn:aws:s3:::b/${*}${?}${$}"})
    assert doc.evaluate(request(resource="arn:aws:s3:::b/*?$")).allows
    assert not doc.evaluate(request(resource="arn:aws:s3:::b/abc")).allows


def test_variable_values_never_act_as_wildcards():
    doc = identity({"Effect": "Allow", "Action": "s3:*",
                    "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/Team}"})
    tagged = principal().__class__("Role", f"arn:aws:iam::{ACCOUNT}:role/T", ACCOUNT, name="T",
                                   tags={"Team": "*"})
    assert doc.evaluate(RequestContext(tagged, "s3:GetObject", "arn:aws:s3:::b/*")).allows
    assert not doc.evaluate(RequestContext(tagged, "s3:GetObject", "arn:aws:s3:::b/x")).allows


def test_variables_in_conditions():
    doc = identity({"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": {
        "StringEquals": {"aws:ResourceTag/Owner": "${aws:PrincipalTag/team}"},
        "StringLike": {"kms:EncryptionContext:aws:ecs:clusterName": "${aws:PrincipalTag/Team}-*"},
        "ArnLike": {"aws:SourceArn": "arn:aws:ecs:*:${aws:PrincipalAccount}:cluster/*"},
    }})
    tagged = principal().__class__("Role", f"arn:aws:iam::{ACCOUNT}:role/T", ACCOUNT, name="T",
                                   tags={"Team": "blue"})
    ctx = {"aws:ResourceTag/Owner": "blue",
           "kms:EncryptionContext:aws:ecs:clusterName": "blue-prod",
           "aws:SourceArn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/blue-prod"}
    assert doc.evaluate(RequestContext(tagged, "kms:Decrypt", "*", ctx)).allows
    other = dict(ctx, **{"aws:SourceArn": f"arn:aws:ecs:us-west-2:{OTHER}:cluster/blue-prod"})
    assert not doc.evaluate(RequestContext(tagged, "kms:Decrypt", "*", other)).allows
    wrong = dict(ctx, **{"kms:EncryptionContext:aws:ecs:clusterName": "red-prod"})
    assert not doc.evaluate(RequestContext(tagged, "kms:Decrypt", "*", wrong)).allows


def test_absent_variable_drops_the_value_and_says_so():
    doc = identity({"Effect": "Allow", "Action": "kms:*", "Resource": "*", "Condition": {
        "StringEquals": {"aws:ResourceTag/Owner": "${aws:PrincipalTag/Team}"}}})
    result = doc.evaluate(request({"aws:ResourceTag/Owner": "blue"}, action="kms:Decrypt"))
    assert not result.allows
    assert "aws:PrincipalTag/Team" in result.missing_context_values
    text = "\n".join(result.explanation())
    assert "dropped" in text and "aws:PrincipalTag/Team" in text


def test_any_request_key_can_be_a_variable():
    doc = identity({"Effect": "Allow", "Action": "ecs:*",
                    "Resource": "arn:aws:ecs:${aws:RequestedRegion}:*:cluster/*"})
    ok = request({"aws:RequestedRegion": "us-west-2"}, action="ecs:RunTask",
                 resource=f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/c")
    bad = request({"aws:RequestedRegion": "eu-west-1"}, action="ecs:RunTask",
                  resource=f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/c")
    assert doc.evaluate(ok).allows and not doc.evaluate(bad).allows


def test_userid_and_principal_account_variables():
    p = principal(f"arn:aws:iam::{ACCOUNT}:user/alice")
    doc = identity({"Effect": "Allow", "Action": "s3:*",
                    "Resource": "arn:aws:s3:::b/${aws:PrincipalAccount}/${aws:userid}"})
    res = f"arn:aws:s3:::b/{ACCOUNT}/{p.unique_id}"
    assert doc.evaluate(RequestContext(p, "s3:GetObject", res)).allows
