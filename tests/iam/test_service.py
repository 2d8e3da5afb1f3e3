"""The IAM service operations and the policy simulator APIs, through the boto3-shaped client."""

from __future__ import annotations

import json

import pytest

from simulator.errors import ClientError
from simulator.iam.seed import seed_allow_approved_keys, seed_deny_without_key, seed_key_policy
from tests.iam.helpers import ACCOUNT, KEY_ARN, check_iam_shape

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Operator"
CLUSTER_KEY = "ecs:fargate-ephemeral-storage-kms-key"


def code(exc_info) -> str:
    return exc_info.value.response["Error"]["Code"]


@pytest.fixture
def role(iam):
    r = iam.create_role(RoleName="Operator", AssumeRolePolicyDocument=TRUST,
                        Tags=[{"Key": "Team", "Value": "blue"}])
    check_iam_shape("CreateRole", r)
    return r["Role"]


def test_create_get_list_delete_role(iam, role):
    assert role["Arn"] == ROLE_ARN
    assert role["RoleId"].startswith("AROA") and len(role["RoleId"]) == 21
    assert role["AssumeRolePolicyDocument"] == json.loads(TRUST)
    got = iam.get_role(RoleName="operator")  # role names are case-insensitive
    check_iam_shape("GetRole", got)
    assert got["Role"]["Tags"] == [{"Key": "Team", "Value": "blue"}]
    listed = iam.list_roles()
    check_iam_shape("ListRoles", listed)
    assert [r["RoleName"] for r in listed["Roles"]] == ["Operator"]
    iam.delete_role(RoleName="Operator")
    with pytest.raises(ClientError) as info:
        iam.get_role(RoleName="Operator")
    assert code(info) == "NoSuchEntity"


def test_duplicate_role_and_bad_trust_policy(iam, role):
    with pytest.raises(ClientError) as info:
        iam.create_role(RoleName="OPERATOR", AssumeRolePolicyDocument=TRUST)
    assert code(info) == "EntityAlreadyExists"
    with pytest.raises(ClientError) as info:
        iam.create_role(RoleName="B", AssumeRolePolicyDocument='{"Statement": [{"Effect": "x"}]}')
    assert code(info) == "MalformedPolicyDocument"
    assert info.value.message == "Syntax errors in policy."  # AWS's words
    assert "Statement[0].Effect" in info.value.explanation  # and where, beside them


def test_inline_role_policies(iam, role):
    doc = json.dumps(seed_allow_approved_keys())
    iam.put_role_policy(RoleName="Operator", PolicyName="keys", PolicyDocument=doc)
    got = iam.get_role_policy(RoleName="Operator", PolicyName="keys")
    check_iam_shape("GetRolePolicy", got)
    assert got["PolicyDocument"] == seed_allow_approved_keys()  # a dict, as boto3 returns it
    listed = iam.list_role_policies(RoleName="Operator")
    check_iam_shape("ListRolePolicies", listed)
    assert listed["PolicyNames"] == ["keys"]
    with pytest.raises(ClientError) as info:
        iam.put_role_policy(RoleName="Operator", PolicyName="bad",
                            PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": '
                            '"Allow", "Action": "kms:*", "Resource": "*", "Condition": '
                            '{"StringEqual": {"aws:A": "x"}}}]}')
    assert code(info) == "MalformedPolicyDocument"
    assert info.value.message == "Syntax errors in policy."
    assert info.value.explanation.startswith(
        "Statement[0].Condition.StringEqual: unknown condition operator")
    with pytest.raises(ClientError) as info:
        iam.delete_role(RoleName="Operator")
    assert code(info) == "DeleteConflict"
    iam.delete_role_policy(RoleName="Operator", PolicyName="keys")
    with pytest.raises(ClientError) as info:
        iam.get_role_policy(RoleName="Operator", PolicyName="keys")
    assert code(info) == "NoSuchEntity"


def test_inline_policy_size_limit(iam, role):
    big = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"kms:Action{i:05d}", "Resource": "*"}
        for i in range(300)
    ]}
    with pytest.raises(ClientError) as info:
        iam.put_role_policy(RoleName="Operator", PolicyName="big", PolicyDocument=json.dumps(big))
    assert code(info) == "LimitExceeded"


def test_managed_policies(iam, role):
    created = iam.create_policy(PolicyName="Keys", PolicyDocument=json.dumps(
        seed_allow_approved_keys()), Description="approved keys")
    check_iam_shape("CreatePolicy", created)
    arn = created["Policy"]["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/Keys"
    check_iam_shape("GetPolicy", iam.get_policy(PolicyArn=arn))
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v1")
    check_iam_shape("GetPolicyVersion", version)
    assert version["PolicyVersion"]["Document"] == seed_allow_approved_keys()
    assert version["PolicyVersion"]["IsDefaultVersion"]
    iam.attach_role_policy(RoleName="Operator", PolicyArn=arn)
    attached = iam.list_attached_role_policies(RoleName="Operator")
    check_iam_shape("ListAttachedRolePolicies", attached)
    assert attached["AttachedPolicies"] == [{"PolicyName": "Keys", "PolicyArn": arn}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    with pytest.raises(ClientError) as info:
        iam.delete_policy(PolicyArn=arn)
    assert code(info) == "DeleteConflict"
    iam.detach_role_policy(RoleName="Operator", PolicyArn=arn)
    iam.delete_policy(PolicyArn=arn)
    with pytest.raises(ClientError) as info:
        iam.get_policy(PolicyArn=arn)
    assert code(info) == "NoSuchEntity"
    with pytest.raises(ClientError) as info:
        iam.create_policy(PolicyName="Bad", PolicyDocument='{"Version": "2012-10-17", '
                          '"Statement": [{"Effect": "Allow", "Principal": "*", '
                          '"Action": "kms:*", "Resource": "*"}]}')
    assert code(info) == "MalformedPolicyDocument"
    assert info.value.message == "Policy document should not specify a principal."
    assert info.value.explanation.startswith("Statement[0].Principal:")


def test_managed_policy_attachment_limit(iam, role):
    arns = [iam.create_policy(PolicyName=f"P{i}", PolicyDocument=json.dumps(
        seed_deny_without_key()))["Policy"]["Arn"] for i in range(11)]
    for arn in arns[:10]:
        iam.attach_role_policy(RoleName="Operator", PolicyArn=arn)
    with pytest.raises(ClientError) as info:
        iam.attach_role_policy(RoleName="Operator", PolicyArn=arns[10])
    assert code(info) == "LimitExceeded"


def test_aws_managed_policy_can_be_attached(iam, iam_sim, role):
    iam.attach_role_policy(RoleName="Operator",
                           PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    p = iam_sim.principal(ROLE_ARN)
    docs = iam_sim.service("iam").identity_policies(p)
    assert len(docs) == 1 and docs[0].source_type == "aws-managed"


def test_users(iam):
    r = iam.create_user(UserName="alice")
    check_iam_shape("CreateUser", r)
    assert r["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    check_iam_shape("GetUser", iam.get_user(UserName="alice"))
    iam.put_user_policy(UserName="alice", PolicyName="p",
                        PolicyDocument=json.dumps(seed_deny_without_key()))
    arn = iam.create_policy(PolicyName="K", PolicyDocument=json.dumps(
        seed_allow_approved_keys()))["Policy"]["Arn"]
    iam.attach_user_policy(UserName="alice", PolicyArn=arn)
    iam.delete_user_policy(UserName="alice", PolicyName="p")
    with pytest.raises(ClientError) as info:
        iam.delete_user_policy(UserName="alice", PolicyName="p")
    assert code(info) == "NoSuchEntity"


def test_tags_become_principal_tags(iam, iam_sim, role):
    iam.tag_role(RoleName="Operator", Tags=[{"Key": "Project", "Value": "storage"}])
    p = iam_sim.principal(ROLE_ARN)
    assert iam_sim.service("iam").tags(p) == {"Team": "blue", "Project": "storage"}
    iam.put_role_policy(RoleName="Operator", PolicyName="tag", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "ecs:CreateCluster", "Resource": "*",
            "Condition": {"StringEquals": {"aws:PrincipalTag/project": "storage"}}}]}))
    r = iam.simulate_principal_policy(PolicySourceArn=ROLE_ARN, ActionNames=["ecs:CreateCluster"])
    assert r["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_identity_policies_for_unknown_roles_roots_and_services(iam_sim):
    svc = iam_sim.service("iam")
    for who in (f"arn:aws:iam::{ACCOUNT}:role/Never", ACCOUNT, "fargate.amazonaws.com"):
        assert svc.identity_policies(iam_sim.principal(who)) == []
        assert svc.tags(iam_sim.principal(who)) == {}


# -- the simulator APIs -------------------------------------------------------------------------
def test_simulate_custom_policy_seed_identity_policies(iam):
    policies = [json.dumps(seed_allow_approved_keys()), json.dumps(seed_deny_without_key())]
    allowed = iam.simulate_custom_policy(
        PolicyInputList=policies, ActionNames=["ecs:CreateCluster", "ecs:UpdateCluster"],
        ContextEntries=[{"ContextKeyName": CLUSTER_KEY, "ContextKeyValues": [KEY_ARN],
                         "ContextKeyType": "string"}])
    check_iam_shape("SimulateCustomPolicy", allowed)
    assert [r["EvalDecision"] for r in allowed["EvaluationResults"]] == ["allowed", "allowed"]
    matched = allowed["EvaluationResults"][0]["MatchedStatements"][0]
    assert matched["SourcePolicyId"] == "PolicyInputList.1"
    assert matched["StartPosition"]["Line"] == 1 and matched["StartPosition"]["Column"] > 1

    denied = iam.simulate_custom_policy(PolicyInputList=policies, ActionNames=["ecs:CreateCluster"])
    check_iam_shape("SimulateCustomPolicy", denied)
    result = denied["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.2"
    assert result["MissingContextValues"] == [CLUSTER_KEY]


def test_simulate_custom_policy_with_resource_policy(iam):
    key_policy = json.dumps(seed_key_policy())
    entries = [
        {"ContextKeyName": "kms:EncryptionContext:aws:ecs:clusterAccount",
         "ContextKeyValues": [ACCOUNT], "ContextKeyType": "string"},
        {"ContextKeyName": "kms:EncryptionContext:aws:ecs:clusterName",
         "ContextKeyValues": ["clusterName"], "ContextKeyType": "string"},
        {"ContextKeyName": "kms:GrantOperations", "ContextKeyValues": ["Decrypt", "Encrypt"],
         "ContextKeyType": "stringList"},
    ]
    allow_all = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    r = iam.simulate_custom_policy(
        PolicyInputList=[allow_all], ActionNames=["kms:DescribeKey", "kms:CreateGrant"],
        ResourceArns=[KEY_ARN], ResourcePolicy=key_policy,
        CallerArn=f"arn:aws:iam::{ACCOUNT}:role/customer-chosen-role", ContextEntries=entries)
    check_iam_shape("SimulateCustomPolicy", r)
    results = {x["EvalActionName"]: x for x in r["EvaluationResults"]}
    assert results["kms:DescribeKey"]["EvalDecision"] == "allowed"
    assert results["kms:DescribeKey"]["EvalDecisionDetails"] == {}  # same account
    assert results["kms:DescribeKey"]["ResourceSpecificResults"][0]["EvalResourceName"] == KEY_ARN


def test_simulate_custom_policy_errors(iam):
    with pytest.raises(ClientError) as info:
        iam.simulate_custom_policy(PolicyInputList=['{"Statement": [{"Effect": "Maybe"}]}'],
                                   ActionNames=["kms:Decrypt"])
    assert code(info) == "InvalidInput"
    assert info.value.message == "PolicyInputList.1: Syntax errors in policy."
    assert "Statement[0].Effect" in info.value.explanation
    with pytest.raises(ClientError) as info:
        iam.simulate_custom_policy(
            PolicyInputList=[json.dumps(seed_deny_without_key())], ActionNames=["kms:Decrypt"],
            ContextEntries=[{"ContextKeyName": "aws:N", "ContextKeyValues": ["ten"],
                             "ContextKeyType": "numeric"}])
    assert code(info) == "InvalidInput"
    with pytest.raises(ClientError) as info:
        iam.simulate_custom_policy(PolicyInputList=[json.dumps(seed_deny_without_key())],
                                   ActionNames=["kms:Decrypt"],
                                   ResourcePolicy=json.dumps(seed_key_policy()))
    assert code(info) == "InvalidInput" and "CallerArn" in info.value.message


@pytest.mark.parametrize(
    ("ctype", "values", "condition", "expected"),
    [
        ("numeric", ["7"], {"NumericLessThan": {"aws:K": "10"}}, "allowed"),
        ("numericList", ["7", "12"], {"ForAllValues:NumericLessThan": {"aws:K": "10"}},
         "implicitDeny"),
        ("boolean", ["true"], {"Bool": {"aws:K": "true"}}, "allowed"),
        ("booleanList", ["false"], {"ForAnyValue:Bool": {"aws:K": "true"}}, "implicitDeny"),
        ("ip", ["10.1.2.3"], {"IpAddress": {"aws:K": "10.0.0.0/8"}}, "allowed"),
        ("ipList", ["192.168.0.1", "10.0.0.1"], {"ForAnyValue:IpAddress": {"aws:K": "10.0.0.0/8"}},
         "allowed"),
        ("binary", ["QUJD"], {"BinaryEquals": {"aws:K": "QUJD"}}, "allowed"),
        ("date", ["2024-06-10T00:00:00Z"], {"DateLessThan": {"aws:K": "2025-01-01"}}, "allowed"),
        ("dateList", ["2024-06-10", "2026-01-01"], {"ForAllValues:DateLessThan": {"aws:K":
                                                                                 "2025-01-01"}},
         "implicitDeny"),
        ("string", ["x"], {"StringEquals": {"aws:K": "x"}}, "allowed"),
        ("stringList", ["x", "y"], {"ForAllValues:StringEquals": {"aws:K": ["x", "y"]}},
         "allowed"),
    ],
)
def test_simulate_context_types(iam, ctype, values, condition, expected):
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": condition}]})
    r = iam.simulate_custom_policy(
        PolicyInputList=[policy], ActionNames=["s3:GetObject"],
        ContextEntries=[{"ContextKeyName": "aws:K", "ContextKeyValues": values,
                         "ContextKeyType": ctype}])
    assert r["EvaluationResults"][0]["EvalDecision"] == expected


def test_simulate_principal_policy(iam, role):
    iam.put_role_policy(RoleName="Operator", PolicyName="keys",
                        PolicyDocument=json.dumps(seed_allow_approved_keys()))
    arn = iam.create_policy(PolicyName="NoKeyDeny", PolicyDocument=json.dumps(
        seed_deny_without_key()))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="Operator", PolicyArn=arn)
    r = iam.simulate_principal_policy(PolicySourceArn=ROLE_ARN, ActionNames=["ecs:CreateCluster"])
    check_iam_shape("SimulatePrincipalPolicy", r)
    result = r["EvaluationResults"][0]
    assert result["EvalDecision"] == "explicitDeny"
    assert result["MatchedStatements"][0]["SourcePolicyId"] == arn
    assert result["MatchedStatements"][0]["SourcePolicyType"] == "user-managed"
    r = iam.simulate_principal_policy(
        PolicySourceArn=ROLE_ARN, ActionNames=["ecs:CreateCluster"],
        ContextEntries=[{"ContextKeyName": CLUSTER_KEY, "ContextKeyValues": [KEY_ARN],
                         "ContextKeyType": "string"}])
    result = r["EvaluationResults"][0]
    assert result["EvalDecision"] == "allowed"
    assert result["MatchedStatements"][0] == {**result["MatchedStatements"][0],
                                              "SourcePolicyId": "keys",
                                              "SourcePolicyType": "role"}
    with pytest.raises(ClientError) as info:
        iam.simulate_principal_policy(PolicySourceArn=f"arn:aws:iam::{ACCOUNT}:role/Nope",
                                      ActionNames=["ecs:CreateCluster"])
    assert code(info) == "NoSuchEntity"


def test_simulate_principal_policy_with_permissions_boundary(iam, role):
    iam.put_role_policy(RoleName="Operator", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*",
                                               "Resource": "*"}]}))
    boundary = iam.create_policy(PolicyName="B", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*",
                                               "Resource": "*"}]}))["Policy"]["Arn"]
    iam.put_role_permissions_boundary(RoleName="Operator", PermissionsBoundary=boundary)
    r = iam.simulate_principal_policy(PolicySourceArn=ROLE_ARN,
                                      ActionNames=["kms:Decrypt", "ecs:CreateCluster"])
    decisions = {x["EvalActionName"]: x for x in r["EvaluationResults"]}
    assert decisions["kms:Decrypt"]["EvalDecision"] == "allowed"
    assert decisions["ecs:CreateCluster"]["EvalDecision"] == "implicitDeny"
    assert decisions["ecs:CreateCluster"]["PermissionsBoundaryDecisionDetail"] == {
        "AllowedByPermissionsBoundary": False}


def test_simulation_pagination(iam):
    policy = json.dumps(seed_deny_without_key())
    r = iam.simulate_custom_policy(PolicyInputList=[policy], MaxItems=1,
                                   ActionNames=["ecs:CreateCluster", "ecs:UpdateCluster"])
    assert r["IsTruncated"] and len(r["EvaluationResults"]) == 1
    r2 = iam.simulate_custom_policy(PolicyInputList=[policy], MaxItems=1, Marker=r["Marker"],
                                    ActionNames=["ecs:CreateCluster", "ecs:UpdateCluster"])
    assert not r2["IsTruncated"]
    assert r2["EvaluationResults"][0]["EvalActionName"] == "ecs:UpdateCluster"


def test_context_keys_for_policies(iam, role):
    r = iam.get_context_keys_for_custom_policy(PolicyInputList=[json.dumps(seed_key_policy())])
    check_iam_shape("GetContextKeysForCustomPolicy", r)
    assert r["ContextKeyNames"] == [
        "kms:EncryptionContext:aws:ecs:clusterAccount",
        "kms:EncryptionContext:aws:ecs:clusterName",
        "kms:GrantOperations",
    ]


def test_iam_calls_are_authorised(iam, iam_sim, role):
    op = iam_sim.client("iam", principal=ROLE_ARN)
    with pytest.raises(ClientError) as info:
        op.create_role(RoleName="Escalate", AssumeRolePolicyDocument=TRUST)
    assert (code(info), info.value.status) == ("AccessDenied", 403)
    assert info.value.message == (
        f"User: {ROLE_ARN} is not authorized to perform: iam:CreateRole on resource: "
        f"arn:aws:iam::{ACCOUNT}:role/Escalate because no identity-based policy allows the "
        "iam:CreateRole action"
    )
    assert info.value.details["evaluation"].decision == "implicitDeny"
    iam.put_role_policy(RoleName="Operator", PolicyName="iam", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:Get*",
                                               "Resource": "*"}]}))
    assert op.get_role(RoleName="Operator")["Role"]["Arn"] == ROLE_ARN
