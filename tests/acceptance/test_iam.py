"""Issue 2: IAM policy language and evaluation, from AWS's documented semantics."""

import json

import pytest

from simulator.errors import ClientError

from .conftest import ACCOUNT


def pol(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action="s3:GetObject", resource="*", condition=None):
    st = {"Effect": "Allow", "Action": action, "Resource": resource}
    if condition is not None:
        st["Condition"] = condition
    return st


def decide(sim, policies, action="s3:GetObject", resource="*", context=None, **kw):
    iam = sim.client("iam")
    entries = []
    for key, (typ, values) in (context or {}).items():
        entries.append(
            {"ContextKeyName": key, "ContextKeyValues": list(values), "ContextKeyType": typ}
        )
    resp = iam.simulate_custom_policy(
        PolicyInputList=list(policies),
        ActionNames=[action],
        ResourceArns=[resource],
        ContextEntries=entries,
        **kw,
    )
    return resp["EvaluationResults"][0]


def dec(sim, policies, **kw):
    return decide(sim, policies, **kw)["EvalDecision"]


# ---------------------------------------------------------------- response shape


def test_simulate_custom_policy_response_shape(sim):
    r = decide(sim, [pol(allow())], resource="arn:aws:s3:::b/k")
    assert r["EvalActionName"] == "s3:GetObject"
    assert r["EvalResourceName"] == "arn:aws:s3:::b/k"
    assert r["EvalDecision"] == "allowed"
    assert isinstance(r["MatchedStatements"], list) and r["MatchedStatements"]
    assert "MissingContextValues" in r


def test_implicit_and_explicit_deny_decisions(sim):
    assert dec(sim, [pol(allow(action="s3:PutObject"))]) == "implicitDeny"
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    assert dec(sim, [pol(allow(), deny)]) == "explicitDeny"
    # explicit Deny in a second policy still wins
    assert dec(sim, [pol(allow()), pol(deny)]) == "explicitDeny"


def test_action_case_insensitive_and_wildcards(sim):
    assert dec(sim, [pol(allow(action="S3:getobject"))]) == "allowed"
    assert dec(sim, [pol(allow(action="s3:Get*"))]) == "allowed"
    assert dec(sim, [pol(allow(action="s3:GetObjec?"))]) == "allowed"
    assert dec(sim, [pol(allow(action="s3:GetObjec?x"))]) == "implicitDeny"


def test_notaction_and_notresource(sim):
    st = {"Effect": "Allow", "NotAction": "s3:PutObject", "Resource": "*"}
    assert dec(sim, [pol(st)]) == "allowed"
    st = {"Effect": "Allow", "NotAction": "s3:Get*", "Resource": "*"}
    assert dec(sim, [pol(st)]) == "implicitDeny"
    st = {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"}
    assert dec(sim, [pol(st)], resource="arn:aws:s3:::secret/x") == "implicitDeny"
    assert dec(sim, [pol(st)], resource="arn:aws:s3:::public/x") == "allowed"


# ---------------------------------------------------------------- operators


@pytest.mark.parametrize(
    "cond,ctx,expected",
    [
        # several values OR together
        (
            {"StringEquals": {"aws:username": ["alice", "bob"]}},
            {"aws:username": ("string", ["bob"])},
            "allowed",
        ),
        (
            {"StringEquals": {"aws:username": "alice"}},
            {"aws:username": ("string", ["Alice"])},
            "implicitDeny",
        ),
        (
            {"StringEqualsIgnoreCase": {"aws:username": "alice"}},
            {"aws:username": ("string", ["ALICE"])},
            "allowed",
        ),
        (
            {"StringLike": {"aws:username": "al*"}},
            {"aws:username": ("string", ["alice"])},
            "allowed",
        ),
        (
            {"StringNotLike": {"aws:username": "al*"}},
            {"aws:username": ("string", ["alice"])},
            "implicitDeny",
        ),
        (
            {"NumericLessThan": {"s3:max-keys": "10"}},
            {"s3:max-keys": ("numeric", ["5"])},
            "allowed",
        ),
        (
            {"NumericLessThan": {"s3:max-keys": "10"}},
            {"s3:max-keys": ("numeric", ["10"])},
            "implicitDeny",
        ),
        (
            {"NumericGreaterThanEquals": {"s3:max-keys": "10"}},
            {"s3:max-keys": ("numeric", ["10"])},
            "allowed",
        ),
        (
            {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
            {"aws:CurrentTime": ("date", ["2024-06-10T00:00:00Z"])},
            "allowed",
        ),
        (
            {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}},
            {"aws:CurrentTime": ("date", ["2024-06-10T00:00:00Z"])},
            "implicitDeny",
        ),
        (
            {"Bool": {"aws:SecureTransport": "true"}},
            {"aws:SecureTransport": ("boolean", ["true"])},
            "allowed",
        ),
        (
            {"Bool": {"aws:SecureTransport": "true"}},
            {"aws:SecureTransport": ("boolean", ["false"])},
            "implicitDeny",
        ),
        (
            {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            {"aws:SourceIp": ("ip", ["203.0.113.7"])},
            "allowed",
        ),
        (
            {"NotIpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            {"aws:SourceIp": ("ip", ["198.51.100.7"])},
            "allowed",
        ),
        (
            {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
            {"aws:SourceIp": ("ip", ["198.51.100.7"])},
            "implicitDeny",
        ),
        (
            {"ArnLike": {"aws:SourceArn": "arn:aws:ecs:*:111122223333:cluster/*"}},
            {"aws:SourceArn": ("string", ["arn:aws:ecs:us-west-2:111122223333:cluster/web"])},
            "allowed",
        ),
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:ecs:us-west-2:111122223333:cluster/web"}},
            {"aws:SourceArn": ("string", ["arn:aws:ecs:us-west-2:111122223333:cluster/other"])},
            "implicitDeny",
        ),
    ],
)
def test_condition_operators(sim, cond, ctx, expected):
    assert dec(sim, [pol(allow(condition=cond))], context=ctx) == expected


@pytest.mark.parametrize(
    "cond,expected",
    [
        # absent-key semantics as AWS documents them
        ({"StringEquals": {"aws:username": "alice"}}, "implicitDeny"),
        ({"StringNotEquals": {"aws:username": "alice"}}, "allowed"),  # negated on absent: true
        (
            {"StringEqualsIfExists": {"aws:username": "alice"}},
            "allowed",
        ),  # IfExists on absent: true
        (
            {"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}},
            "allowed",
        ),  # ForAllValues absent: true
        (
            {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}},
            "implicitDeny",
        ),  # ForAnyValue absent: false
        ({"Null": {"aws:username": "true"}}, "allowed"),
        ({"Null": {"aws:username": "false"}}, "implicitDeny"),
    ],
)
def test_absent_key_semantics(sim, cond, expected):
    assert dec(sim, [pol(allow(condition=cond))]) == expected


def test_set_qualifiers_with_values(sim):
    fa = {"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}}
    fy = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["a", "b"]}}
    sub = {"aws:TagKeys": ("stringList", ["a"])}
    extra = {"aws:TagKeys": ("stringList", ["a", "c"])}
    none_ = {"aws:TagKeys": ("stringList", ["c"])}
    assert dec(sim, [pol(allow(condition=fa))], context=sub) == "allowed"
    assert dec(sim, [pol(allow(condition=fa))], context=extra) == "implicitDeny"
    assert dec(sim, [pol(allow(condition=fy))], context=extra) == "allowed"
    assert dec(sim, [pol(allow(condition=fy))], context=none_) == "implicitDeny"


def test_condition_keys_case_insensitive(sim):
    cond = {"StringEquals": {"AWS:UserName": "alice"}}
    assert (
        dec(sim, [pol(allow(condition=cond))], context={"aws:username": ("string", ["alice"])})
        == "allowed"
    )


def test_keys_and_operators_and_together(sim):
    cond = {
        "StringEquals": {"aws:username": "alice", "aws:PrincipalAccount": ACCOUNT},
        "Bool": {"aws:SecureTransport": "true"},
    }
    full = {
        "aws:username": ("string", ["alice"]),
        "aws:PrincipalAccount": ("string", [ACCOUNT]),
        "aws:SecureTransport": ("boolean", ["true"]),
    }
    assert dec(sim, [pol(allow(condition=cond))], context=full) == "allowed"
    partial = dict(full)
    partial["aws:SecureTransport"] = ("boolean", ["false"])
    assert dec(sim, [pol(allow(condition=cond))], context=partial) == "implicitDeny"


def test_policy_variable_in_resource(sim):
    st = allow(resource="arn:aws:s3:::home/${aws:username}/*")
    ctx = {"aws:username": ("string", ["alice"])}
    assert dec(sim, [pol(st)], resource="arn:aws:s3:::home/alice/f", context=ctx) == "allowed"
    assert dec(sim, [pol(st)], resource="arn:aws:s3:::home/bob/f", context=ctx) == "implicitDeny"


# ---------------------------------------------------------------- malformed documents


def test_malformed_unknown_operator_names_path(sim):
    doc = pol(allow(), allow(condition={"StringEqual": {"aws:username": "a"}}))
    with pytest.raises(ClientError) as ei:
        decide(sim, [doc])
    e = ei.value
    # botocore's SimulateCustomPolicy model lists InvalidInput; issue 2 says MalformedPolicyDocumentException
    assert e.code in ("MalformedPolicyDocument", "MalformedPolicyDocumentException", "InvalidInput")
    assert e.message.endswith("Syntax errors in policy.")  # AWS's words ...
    assert "Statement[1].Condition.StringEqual" in e.explanation  # ... and the path beside
    assert e.response["Error"]["Code"] == e.code


def test_malformed_put_role_policy_refused(sim):
    iam = sim.client("iam")
    iam.create_role(
        RoleName="r",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    with pytest.raises(ClientError) as ei:
        iam.put_role_policy(
            RoleName="r",
            PolicyName="bad",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}],
                }
            ),
        )
    assert "MalformedPolicyDocument" in ei.value.code
    assert ei.value.message == "Syntax errors in policy."
    assert "Statement[0].Effect" in ei.value.explanation


def test_unknown_parameter_is_validation_error(sim):
    iam = sim.client("iam")
    with pytest.raises(ClientError) as ei:
        iam.simulate_custom_policy(
            PolicyInputList=[pol(allow())], ActionNames=["s3:GetObject"], Bogus=1
        )
    assert ei.value.code == "ValidationException" or "Validation" in ei.value.code
    assert "Bogus" in ei.value.message


def test_missing_required_parameter_is_validation_error(sim):
    iam = sim.client("iam")
    with pytest.raises(ClientError) as ei:
        iam.simulate_custom_policy(ActionNames=["s3:GetObject"])
    # AWS's words (botocore's client would not send the request at all)
    assert ei.value.message == ("1 validation error detected: Value null at 'policyInputList' "
                                "failed to satisfy constraint: Member must not be null")


def test_simulate_principal_policy_uses_role_policies(sim):
    iam = sim.client("iam")
    iam.create_role(
        RoleName="Operator",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    iam.put_role_policy(
        RoleName="Operator", PolicyName="p", PolicyDocument=pol(allow(action="ecs:CreateCluster"))
    )
    arn = f"arn:aws:iam::{ACCOUNT}:role/Operator"
    r = iam.simulate_principal_policy(
        PolicySourceArn=arn, ActionNames=["ecs:CreateCluster", "ecs:DeleteCluster"]
    )
    d = {x["EvalActionName"]: x["EvalDecision"] for x in r["EvaluationResults"]}
    assert d == {"ecs:CreateCluster": "allowed", "ecs:DeleteCluster": "implicitDeny"}


def test_seed_condition_key_allow_list_and_null_deny(sim):
    """S10/S11 as IAM evaluates them."""
    key = "arn:aws:kms:us-west-2:111122223333:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
    allow_list = pol(
        {
            "Effect": "Allow",
            "Action": ["ecs:CreateCluster", "ecs:UpdateCluster"],
            "Resource": "*",
            "Condition": {"StringEquals": {"ecs:fargate-ephemeral-storage-kms-key": key}},
        }
    )
    null_deny = pol(
        {
            "Effect": "Deny",
            "Action": ["ecs:CreateCluster", "ecs:UpdateCluster"],
            "Resource": "*",
            "Condition": {"Null": {"ecs:fargate-ephemeral-storage-kms-key": "true"}},
        }
    )
    everything = pol(allow(action="ecs:*"))
    ctx_ok = {"ecs:fargate-ephemeral-storage-kms-key": ("string", [key])}
    ctx_other = {
        "ecs:fargate-ephemeral-storage-kms-key": ("string", [key.replace("11111", "22222")])
    }
    assert dec(sim, [allow_list], action="ecs:CreateCluster", context=ctx_ok) == "allowed"
    assert dec(sim, [allow_list], action="ecs:CreateCluster", context=ctx_other) == "implicitDeny"
    assert dec(sim, [everything, null_deny], action="ecs:CreateCluster") == "explicitDeny"
    assert (
        dec(sim, [everything, null_deny], action="ecs:UpdateCluster", context=ctx_ok) == "allowed"
    )
