"""IAM as a real AWS client sees it: every implemented operation's response against botocore's
output shape, and the common errors' codes, messages and HTTP statuses.

One tour runs every IAM operation the simulator implements (``simulator/model_members.toml``)
once, in a sensible order, twice: in process (``strict_shapes``) and through the HTTP endpoint
with boto3, whose parsed response is what the AWS CLI and SDKs hand to their users. Each
response must match the operation's output shape (members, types, enums, required members)
and carry the members AWS always returns even where the model marks them optional.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore import xform_name
from botocore.exceptions import ClientError as BotoClientError
from botocore.model import Shape

from simulator import Simulation
from simulator.api import DEFAULT_ROOT_KEY, Authenticator, serve
from simulator.errors import ClientError
from simulator.iam import core
from simulator.models import service_model
from tests.iam.helpers import ACCOUNT
from tests.shape_check import assert_answers_as_aws

ROOT = Path(__file__).resolve().parents[2]
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]})
ALLOW = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
    "Condition": {"StringEquals": {"kms:ViaService": "ecs.us-west-2.amazonaws.com"}}}]})
ALLOW_2 = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]})
POLICY_ARN = f"arn:aws:iam::{ACCOUNT}:policy/keys"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Operator"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/alice"

Params = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]

#: Every implemented operation once; a callable builds its parameters from earlier answers.
TOUR: list[tuple[str, Params]] = [
    ("CreateRole", {"RoleName": "Operator", "AssumeRolePolicyDocument": TRUST,
                    "Description": "runs tasks", "Tags": [{"Key": "team", "Value": "a"}]}),
    ("CreateRole", {"RoleName": "Second", "AssumeRolePolicyDocument": TRUST, "Path": "/x/"}),
    ("GetRole", {"RoleName": "Operator"}),
    ("ListRoles", {"MaxItems": 1}),
    ("TagRole", {"RoleName": "Operator", "Tags": [{"Key": "env", "Value": "dev"}]}),
    ("ListRoleTags", {"RoleName": "Operator"}),
    ("UntagRole", {"RoleName": "Operator", "TagKeys": ["env"]}),
    ("PutRolePolicy", {"RoleName": "Operator", "PolicyName": "inline", "PolicyDocument": ALLOW}),
    ("GetRolePolicy", {"RoleName": "Operator", "PolicyName": "inline"}),
    ("ListRolePolicies", {"RoleName": "Operator"}),
    ("CreatePolicy", {"PolicyName": "keys", "PolicyDocument": ALLOW, "Description": "d",
                      "Tags": [{"Key": "k", "Value": "v"}]}),
    ("GetPolicy", {"PolicyArn": POLICY_ARN}),
    ("ListPolicies", {"Scope": "Local"}),
    ("CreatePolicyVersion", {"PolicyArn": POLICY_ARN, "PolicyDocument": ALLOW_2}),
    ("ListPolicyVersions", {"PolicyArn": POLICY_ARN}),
    ("GetPolicyVersion", {"PolicyArn": POLICY_ARN, "VersionId": "v2"}),
    ("SetDefaultPolicyVersion", {"PolicyArn": POLICY_ARN, "VersionId": "v2"}),
    ("DeletePolicyVersion", {"PolicyArn": POLICY_ARN, "VersionId": "v1"}),
    ("AttachRolePolicy", {"RoleName": "Operator", "PolicyArn": POLICY_ARN}),
    ("ListAttachedRolePolicies", {"RoleName": "Operator"}),
    ("PutRolePermissionsBoundary", {"RoleName": "Operator", "PermissionsBoundary": POLICY_ARN}),
    ("GetRole", {"RoleName": "Operator"}),  # now with its boundary
    ("DeleteRolePermissionsBoundary", {"RoleName": "Operator"}),
    ("UpdateAssumeRolePolicy", {"RoleName": "Operator", "PolicyDocument": TRUST}),
    ("UpdateRole", {"RoleName": "Operator", "Description": "runs clusters",
                    "MaxSessionDuration": 7200}),
    ("CreateUser", {"UserName": "alice", "Tags": [{"Key": "team", "Value": "a"}]}),
    ("GetUser", {"UserName": "alice"}),
    ("ListUsers", {}),
    ("TagUser", {"UserName": "alice", "Tags": [{"Key": "env", "Value": "dev"}]}),
    ("ListUserTags", {"UserName": "alice"}),
    ("UntagUser", {"UserName": "alice", "TagKeys": ["env"]}),
    ("PutUserPolicy", {"UserName": "alice", "PolicyName": "inline", "PolicyDocument": ALLOW}),
    ("GetUserPolicy", {"UserName": "alice", "PolicyName": "inline"}),
    ("ListUserPolicies", {"UserName": "alice"}),
    ("AttachUserPolicy", {"UserName": "alice", "PolicyArn": POLICY_ARN}),
    ("ListAttachedUserPolicies", {"UserName": "alice"}),
    ("PutUserPermissionsBoundary", {"UserName": "alice", "PermissionsBoundary": POLICY_ARN}),
    ("DeleteUserPermissionsBoundary", {"UserName": "alice"}),
    ("CreateAccessKey", {"UserName": "alice"}),
    ("ListAccessKeys", {"UserName": "alice"}),
    ("UpdateAccessKey", lambda seen: {"UserName": "alice", "Status": "Inactive",
                                      "AccessKeyId": seen["AccessKeyId"]}),
    ("DeleteAccessKey", lambda seen: {"UserName": "alice", "AccessKeyId": seen["AccessKeyId"]}),
    ("SimulateCustomPolicy", {"PolicyInputList": [ALLOW], "ActionNames": ["kms:Decrypt"],
                              "ContextEntries": [{
                                  "ContextKeyName": "kms:ViaService",
                                  "ContextKeyValues": ["ecs.us-west-2.amazonaws.com"],
                                  "ContextKeyType": "string"}]}),
    ("SimulatePrincipalPolicy", {"PolicySourceArn": ROLE_ARN, "ActionNames": ["kms:Decrypt"],
                                 "ResourceArns": ["*"]}),
    ("CreateGroup", {"GroupName": "storage", "Path": "/teams/"}),
    ("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"}),
    ("GetGroup", {"GroupName": "storage"}),
    ("ListGroups", {}),
    ("ListGroupsForUser", {"UserName": "alice"}),
    ("PutGroupPolicy", {"GroupName": "storage", "PolicyName": "inline", "PolicyDocument": ALLOW}),
    ("GetGroupPolicy", {"GroupName": "storage", "PolicyName": "inline"}),
    ("ListGroupPolicies", {"GroupName": "storage"}),
    ("AttachGroupPolicy", {"GroupName": "storage", "PolicyArn": POLICY_ARN}),
    ("ListAttachedGroupPolicies", {"GroupName": "storage"}),
    ("ListEntitiesForPolicy", {"PolicyArn": POLICY_ARN}),
    ("UpdateGroup", {"GroupName": "storage", "NewPath": "/"}),
    ("SimulatePrincipalPolicy", {"PolicySourceArn": f"arn:aws:iam::{ACCOUNT}:group/storage",
                                 "ActionNames": ["kms:Decrypt"]}),
    ("DetachGroupPolicy", {"GroupName": "storage", "PolicyArn": POLICY_ARN}),
    ("DeleteGroupPolicy", {"GroupName": "storage", "PolicyName": "inline"}),
    ("RemoveUserFromGroup", {"GroupName": "storage", "UserName": "alice"}),
    ("DeleteGroup", {"GroupName": "storage"}),
    ("GetContextKeysForCustomPolicy", {"PolicyInputList": [ALLOW]}),
    ("GetContextKeysForPrincipalPolicy", {"PolicySourceArn": USER_ARN}),
    ("DetachRolePolicy", {"RoleName": "Operator", "PolicyArn": POLICY_ARN}),
    ("DetachUserPolicy", {"UserName": "alice", "PolicyArn": POLICY_ARN}),
    ("DeleteRolePolicy", {"RoleName": "Operator", "PolicyName": "inline"}),
    ("DeleteUserPolicy", {"UserName": "alice", "PolicyName": "inline"}),
    ("DeleteRole", {"RoleName": "Operator"}),
    ("DeleteUser", {"UserName": "alice"}),
    ("DeletePolicy", {"PolicyArn": POLICY_ARN}),
]

#: Members AWS returns in these structures although botocore's model marks them optional
#: (the API Reference's examples, e.g.
#: https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html and
#: https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetPolicy.html).
ALWAYS: dict[str, tuple[str, ...]] = {
    "Role": ("AssumeRolePolicyDocument",),
    "Policy": ("PolicyName", "PolicyId", "Arn", "Path", "DefaultVersionId", "AttachmentCount",
               "PermissionsBoundaryUsageCount", "IsAttachable", "CreateDate", "UpdateDate"),
    "PolicyVersion": ("VersionId", "IsDefaultVersion", "CreateDate"),
    "AttachedPolicy": ("PolicyName", "PolicyArn"),
    "AccessKeyMetadata": ("UserName", "AccessKeyId", "Status", "CreateDate"),
    "Group": ("Path", "GroupName", "GroupId", "Arn", "CreateDate"),
}


def implemented() -> set[str]:
    with open(ROOT / "simulator" / "model_members.toml", "rb") as f:
        return {op for op in tomllib.load(f)["iam"] if op != "error"}


def paging_members(shape: Shape, body: dict[str, Any]) -> list[str]:
    """Paginated outputs: IsTruncated always, Marker exactly when truncated."""
    if "IsTruncated" not in shape.members:
        return []
    if "IsTruncated" not in body:
        return ["IsTruncated: AWS always returns it"]
    if body["IsTruncated"] != ("Marker" in body):
        return ["Marker: present exactly when IsTruncated"]
    return []


def check(operation: str, response: dict[str, Any]) -> None:
    assert_answers_as_aws("iam", operation, response, ALWAYS, paging_members)


def run_tour(call: Callable[[str, dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    answers: dict[str, Any] = {}
    for operation, params in TOUR:
        given = params(seen) if callable(params) else params
        response = call(operation, given)
        check(operation, response)
        if operation == "CreateAccessKey":
            seen["AccessKeyId"] = response["AccessKey"]["AccessKeyId"]
        answers.setdefault(operation, response)
    return answers


def test_the_tour_runs_every_implemented_operation():
    assert {op for op, _ in TOUR} == implemented()


def test_every_operation_in_process_matches_the_output_shape():
    sim = Simulation(account_id=ACCOUNT, region="us-west-2", strict_shapes=True)
    iam = sim.client("iam")
    answers = run_tour(iam.call)
    role = answers["GetRole"]["Role"]
    assert set(role) >= {"Path", "RoleName", "RoleId", "Arn", "CreateDate",
                         "AssumeRolePolicyDocument", "MaxSessionDuration", "RoleLastUsed"}
    user = answers["GetUser"]["User"]
    assert set(user) >= {"Path", "UserName", "UserId", "Arn", "CreateDate", "Tags"}
    key = answers["CreateAccessKey"]["AccessKey"]
    assert set(key) == {"UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"}
    assert key["Status"] == "Active" and len(key["SecretAccessKey"]) == 40
    roles = answers["ListRoles"]
    assert roles["IsTruncated"] is True and roles["Marker"]
    assert answers["ListAttachedRolePolicies"]["IsTruncated"] is False
    assert answers["GetPolicy"]["Policy"]["Description"] == "d"
    assert answers["GetPolicy"]["Policy"]["Tags"] == [{"Key": "k", "Value": "v"}]
    listed = answers["ListPolicies"]["Policies"]
    assert [p["PolicyName"] for p in listed] == ["keys"]
    assert "Description" not in listed[0] and "Tags" not in listed[0]  # GetPolicy's only


@pytest.fixture
def endpoint():
    import boto3
    from botocore.config import Config

    srv = serve(Simulation(account_id=ACCOUNT), auth=Authenticator(), speed=0.0)
    iam = boto3.client(
        "iam", endpoint_url=srv.url, region_name="us-west-2",
        aws_access_key_id=DEFAULT_ROOT_KEY[0], aws_secret_access_key=DEFAULT_ROOT_KEY[1],
        config=Config(retries={"max_attempts": 1}))
    yield iam
    srv.shutdown()
    srv.server_close()


def test_every_operation_through_the_endpoint_parses_to_the_output_shape(endpoint):
    """boto3's parse of the endpoint's XML: what the AWS CLI and SDKs see."""
    answers = run_tour(lambda op, params: getattr(endpoint, xform_name(op))(**params))
    assert answers["GetRole"]["Role"]["AssumeRolePolicyDocument"] == json.loads(TRUST)
    assert answers["ListRoles"]["IsTruncated"] is True
    assert answers["GetRole"]["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_access_denied_through_the_endpoint_is_403_access_denied(endpoint):
    import boto3

    endpoint.create_user(UserName="alice")
    key = endpoint.create_access_key(UserName="alice")["AccessKey"]
    alice = boto3.client(
        "iam", endpoint_url=endpoint.meta.endpoint_url, region_name="us-west-2",
        aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    assert _error(alice.get_user, UserName="alice") == (
        "AccessDenied",
        f"User: {USER_ARN} is not authorized to perform: iam:GetUser on resource: user alice "
        "because no identity-based policy allows the iam:GetUser action", 403)


# -- errors ------------------------------------------------------------------------------------
def test_every_iam_error_class_has_the_models_http_status():
    """The statuses botocore's IAM model gives its errors (NoSuchEntity 404, DeleteConflict,
    EntityAlreadyExists and LimitExceeded 409, the rest 400, ServiceFailure 500)."""
    for shape in service_model("iam").error_shapes:
        meta = shape.metadata.get("error", {"code": shape.name})
        assert core.iam_error(meta["code"]).status == meta.get("httpStatusCode", 400), shape.name
    assert (core.LimitExceeded.status, core.DeleteConflict.status) == (409, 409)
    assert (core.AccessDenied.code, core.AccessDenied.status) == ("AccessDenied", 403)


def _error(call: Callable[..., Any], **params: Any) -> tuple[str, str, int]:
    with pytest.raises(BotoClientError) as info:
        call(**params)
    err = info.value.response
    return err["Error"]["Code"], err["Error"]["Message"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_common_errors_through_the_endpoint_in_aws_words(endpoint):
    """Code, message and HTTP status as a boto3 user sees them, each as IAM answers (the
    sources are cited where the service raises them)."""
    iam = endpoint
    iam.create_role(RoleName="Operator", AssumeRolePolicyDocument=TRUST)
    iam.create_user(UserName="alice")
    arn = iam.create_policy(PolicyName="keys", PolicyDocument=ALLOW)["Policy"]["Arn"]
    missing = f"arn:aws:iam::{ACCOUNT}:policy/none"
    assert _error(iam.get_role, RoleName="nobody") == (
        "NoSuchEntity", "The role with name nobody cannot be found.", 404)
    assert _error(iam.get_user, UserName="nobody") == (
        "NoSuchEntity", "The user with name nobody cannot be found.", 404)
    assert _error(iam.get_policy, PolicyArn=missing) == (
        "NoSuchEntity", f"Policy {missing} was not found.", 404)
    assert _error(iam.attach_role_policy, RoleName="Operator", PolicyArn=missing) == (
        "NoSuchEntity", f"Policy {missing} does not exist or is not attachable.", 404)
    assert _error(iam.put_role_permissions_boundary, RoleName="Operator",
                  PermissionsBoundary=missing) == (
        "NoSuchEntity", f"Scope ARN: {missing} does not exist or is not attachable.", 404)
    assert _error(iam.create_user, UserName="bob", PermissionsBoundary=missing) == (
        "NoSuchEntity", f"Scope ARN: {missing} does not exist or is not attachable.", 404)
    assert _error(iam.get_user, UserName="bob")[0] == "NoSuchEntity"  # nothing half-made
    assert _error(iam.delete_role_policy, RoleName="Operator", PolicyName="p") == (
        "NoSuchEntity", "The role policy with name p cannot be found.", 404)
    assert _error(iam.delete_access_key, UserName="alice", AccessKeyId="AKIAIOSFODNN7EXAMPLE") == (
        "NoSuchEntity", "The Access Key with id AKIAIOSFODNN7EXAMPLE cannot be found.", 404)
    assert _error(iam.create_role, RoleName="operator", AssumeRolePolicyDocument=TRUST) == (
        "EntityAlreadyExists", "Role with name operator already exists.", 409)
    assert _error(iam.create_policy, PolicyName="keys", PolicyDocument=ALLOW) == (
        "EntityAlreadyExists",
        "A policy called keys already exists. Duplicate names are not allowed.", 409)
    iam.attach_role_policy(RoleName="Operator", PolicyArn=arn)
    assert _error(iam.delete_role, RoleName="Operator") == (
        "DeleteConflict", "Cannot delete entity, must detach all policies first.", 409)
    assert _error(iam.delete_policy, PolicyArn=arn) == (
        "DeleteConflict", "Cannot delete a policy attached to entities.", 409)
    iam.create_access_key(UserName="alice")
    assert _error(iam.delete_user, UserName="alice") == (
        "DeleteConflict", "Cannot delete entity, must delete access keys first.", 409)
    iam.create_access_key(UserName="alice")
    assert _error(iam.create_access_key, UserName="alice") == (
        "LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", 409)
    code, message, status = _error(iam.put_role_policy, RoleName="Operator", PolicyName="p",
                                   PolicyDocument='{"Version": "2012-10-17"}')
    assert (code, status) == ("MalformedPolicyDocument", 400)
    assert _error(iam.attach_role_policy, RoleName="Operator",
                  PolicyArn="not-an-arn-at-all-really") == (
        "InvalidInput", "ARN not-an-arn-at-all-really is not valid.", 400)
    code, message, status = _error(iam.get_role, RoleName="bad name!")
    assert (code, status) == ("ValidationError", 400)
    assert message == (
        "1 validation error detected: Value 'bad name!' at 'roleName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+")


def test_changing_an_aws_managed_policy_is_access_denied_in_iams_words(iam):
    """AWS managed policies belong to AWS: DeletePolicy and the version operations on one are
    refused by authorisation, AccessDenied (403), naming it "policy ARN" as IAM does. IAM
    documents no UnmodifiableEntity for these operations."""
    admin = "arn:aws:iam::aws:policy/AdministratorAccess"
    assert iam.get_policy(PolicyArn=admin)["Policy"]["Arn"] == admin  # readable by all
    for op, extra in [("DeletePolicy", {}),
                      ("CreatePolicyVersion", {"PolicyDocument": ALLOW}),
                      ("SetDefaultPolicyVersion", {"VersionId": "v1"}),
                      ("DeletePolicyVersion", {"VersionId": "v1"})]:
        with pytest.raises(ClientError) as info:
            iam.call(op, {"PolicyArn": admin, **extra})
        assert (info.value.code, info.value.status) == ("AccessDenied", 403)
        assert info.value.message.startswith(
            f"User: arn:aws:iam::{ACCOUNT}:root is not authorized to perform: iam:{op} on "
            f"resource: policy {admin} because")
        assert info.value.details["evaluation"].decision != "allowed"
    assert iam.get_policy(PolicyArn=admin)["Policy"]["DefaultVersionId"] == "v1"


def test_access_denied_names_the_resource_as_iam_does(iam, iam_sim):
    """IAM's AccessDenied names an existing role or user as "role NAME" / "user NAME", a policy
    as "policy ARN" (CreatePolicy: "policy NAME"), and an entity being created by its ARN."""
    iam.create_role(RoleName="Operator", AssumeRolePolicyDocument=TRUST)
    iam.create_user(UserName="alice")
    arn = iam.create_policy(PolicyName="keys", PolicyDocument=ALLOW)["Policy"]["Arn"]
    caller = iam_sim.client("iam", principal=USER_ARN)
    denied = {
        "GetRole": ({"RoleName": "Operator"}, "role Operator"),
        "GetUser": ({"UserName": "alice"}, "user alice"),
        "CreateAccessKey": ({"UserName": "alice"}, "user alice"),
        "GetPolicy": ({"PolicyArn": arn}, f"policy {arn}"),
        "CreatePolicy": ({"PolicyName": "more", "PolicyDocument": ALLOW}, "policy more"),
        "CreateRole": ({"RoleName": "New", "AssumeRolePolicyDocument": TRUST},
                       f"arn:aws:iam::{ACCOUNT}:role/New"),
    }
    for op, (params, shown) in denied.items():
        with pytest.raises(ClientError) as info:
            caller.call(op, params)
        assert (info.value.code, info.value.status) == ("AccessDenied", 403), op
        assert info.value.message == (
            f"User: {USER_ARN} is not authorized to perform: iam:{op} on resource: {shown} "
            f"because no identity-based policy allows the iam:{op} action"), op
        # Beside AWS's sentence, which policy decided (and the resource IAM's text abbreviates).
        assert info.value.explanation.startswith(
            "implicitly denied: no policy statement allows this request"), op
        if shown.startswith(("role ", "user ", "policy ")):
            resource = info.value.details["evaluation"].request.resource
            assert info.value.explanation.endswith(f"{shown} is {resource}"), op


def test_delete_policy_with_versions_in_iams_words(iam):
    arn = iam.create_policy(PolicyName="keys", PolicyDocument=ALLOW)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=ALLOW_2)
    with pytest.raises(ClientError) as info:
        iam.delete_policy(PolicyArn=arn)
    assert (info.value.code, info.value.status) == ("DeleteConflict", 409)
    assert info.value.message == (
        "This policy has more than one version. Before you delete a policy, you must delete "
        "the policy's versions. The default version is deleted with the policy.")
    assert "v2" in (info.value.explanation or "")
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    with pytest.raises(ClientError) as info:
        iam.delete_policy_version(PolicyArn=arn, VersionId="v1")
    assert info.value.message == "Cannot delete the default version of a policy."
    iam.delete_policy(PolicyArn=arn)



def test_a_missing_boundary_leaves_the_old_one_and_its_count(iam):
    arn = iam.create_policy(PolicyName="edge", PolicyDocument=ALLOW)["Policy"]["Arn"]
    iam.create_role(RoleName="Operator", AssumeRolePolicyDocument=TRUST,
                    PermissionsBoundary=arn)
    with pytest.raises(ClientError) as info:
        iam.put_role_permissions_boundary(
            RoleName="Operator", PermissionsBoundary=f"arn:aws:iam::{ACCOUNT}:policy/none")
    assert (info.value.code, info.value.status) == ("NoSuchEntity", 404)
    role = iam.get_role(RoleName="Operator")["Role"]
    assert role["PermissionsBoundary"]["PermissionsBoundaryArn"] == arn
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 1


@pytest.mark.parametrize("operation,params", [
    ("TagRole", {"RoleName": "Operator"}),
    ("CreateUser", {"UserName": "bob"}),
    ("CreatePolicy", {"PolicyName": "p", "PolicyDocument": ALLOW}),
])
def test_a_tag_key_twice_in_one_request_is_invalid_input(iam, operation, params):
    iam.create_role(RoleName="Operator", AssumeRolePolicyDocument=TRUST,
                    Tags=[{"Key": "team", "Value": "a"}])
    with pytest.raises(ClientError) as info:
        iam.call(operation, {**params, "Tags": [{"Key": "env", "Value": "a"},
                                                {"Key": "ENV", "Value": "b"}]})
    assert (info.value.code, info.value.status) == ("InvalidInput", 400)
    assert info.value.message == (
        "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
    assert iam.list_role_tags(RoleName="Operator")["Tags"] == [{"Key": "team", "Value": "a"}]
    assert iam.list_users()["Users"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []


def test_an_aws_managed_policy_reports_awss_default_version(iam):
    """GetPolicy says the version AWS's reference gives, and GetPolicyVersion of that id (what
    clients call next) returns the shipped document."""
    arn = "arn:aws:iam::aws:policy/PowerUserAccess"
    pol = iam.get_policy(PolicyArn=arn)["Policy"]
    assert pol["DefaultVersionId"] == "v12"
    version = iam.get_policy_version(PolicyArn=arn, VersionId="v12")["PolicyVersion"]
    assert version["IsDefaultVersion"] and version["Document"]["Statement"][0]["NotAction"]
    listed = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    assert [v["VersionId"] for v in listed] == ["v12"]
    admin = iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")["Policy"]
    assert admin["DefaultVersionId"] == "v1"


def test_the_service_linked_role_path_is_reserved(iam):
    with pytest.raises(ClientError) as info:
        iam.create_role(RoleName="AWSServiceRoleForECS", AssumeRolePolicyDocument=TRUST,
                        Path="/aws-service-role/ecs.amazonaws.com/")
    assert (info.value.code, info.value.status) == ("InvalidInput", 400)
    assert info.value.message == (
        "Path prefix '/aws-service-role/' can only be used for AWS Service linked Roles")
    assert iam.list_roles()["Roles"] == []
