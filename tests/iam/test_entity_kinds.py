"""Role and user operations written once (``simulator.iam.ops_entities``): every kind gets every
operation, in its own request members and AWS's own words for it."""

from __future__ import annotations

import json

import pytest

from simulator.errors import ClientError
from simulator.iam.ops_entities import EntityOperations
from simulator.iam.service import IamService
from simulator.iam.state import KINDS
from simulator.models import service_model
from tests.iam.helpers import ACCOUNT, check_iam_shape

TRUST = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
})
ALLOW = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "ecs:ListClusters", "Resource": "*"}]})

PER_KIND = [name for name in vars(EntityOperations) if name[:1].isupper()]


def handlers() -> list[str]:
    return [name for name in dir(IamService) if name[:1].isupper()
            and callable(getattr(IamService, name))]


def test_every_kind_gets_every_operation_iam_has_for_it():
    operations = set(service_model("iam").operation_names)
    patterns = [step.entity_operation for step in vars(EntityOperations).values()
                if hasattr(step, "entity_operation")]
    assert len(patterns) >= 16
    for pattern in patterns:
        for kind in KINDS:
            name = pattern.format(Kind=kind)
            # made exactly where botocore's IAM model has the operation
            assert callable(getattr(IamService, name, None)) == (name in operations), name
    # roles and users have every one; groups lack only tags and boundaries, as IAM's API does
    for pattern in patterns:
        assert pattern.format(Kind="Role") in operations
        assert pattern.format(Kind="User") in operations
    missing = {p.format(Kind="Group") for p in patterns} - operations
    assert missing == {"TagGroup", "UntagGroup", "ListGroupTags", "PutGroupPermissionsBoundary",
                       "DeleteGroupPermissionsBoundary"}
    assert {"PutUserPermissionsBoundary", "DeleteUserPermissionsBoundary", "UntagUser",
            "ListUserTags", "ListRoleTags", "TagRole", "CreateGroup", "PutGroupPolicy",
            "AttachGroupPolicy", "ListAttachedGroupPolicies", "DeleteGroup"} <= set(dir(IamService))


def test_every_handler_says_what_it_does_and_links_its_api_reference_page():
    for name in handlers():
        doc = getattr(IamService, name).__doc__ or ""
        summary = doc.strip().splitlines()[0] if doc.strip() else ""
        assert summary and "{" not in doc, name
        assert f"https://docs.aws.amazon.com/IAM/latest/APIReference/API_{name}.html" in doc, name


@pytest.fixture(params=["Role", "User"])
def entity(request, iam):
    kind = KINDS[request.param]
    name = f"my{kind.noun}"
    params = {kind.name_member: name, "Tags": [{"Key": "Team", "Value": "blue"}]}
    if kind.has_trust_policy:
        params["AssumeRolePolicyDocument"] = TRUST
    created = iam.call(f"Create{kind.name}", params)
    check_iam_shape(f"Create{kind.name}", created)
    return kind, {kind.name_member: name}


def test_tags_untag_and_list_tags_for_each_kind(iam, entity):
    kind, who = entity
    iam.call(f"Tag{kind.name}", {**who, "Tags": [{"Key": "Project", "Value": "storage"}]})
    listed = iam.call(f"List{kind.name}Tags", who)
    check_iam_shape(f"List{kind.name}Tags", listed)
    assert listed["Tags"] == [{"Key": "Team", "Value": "blue"},
                              {"Key": "Project", "Value": "storage"}]
    iam.call(f"Untag{kind.name}", {**who, "TagKeys": ["TEAM"]})  # keys are case-insensitive
    assert iam.call(f"List{kind.name}Tags", who)["Tags"] == [
        {"Key": "Project", "Value": "storage"}]


def test_permissions_boundary_for_each_kind(iam, iam_sim, entity):
    kind, who = entity
    arn = iam.create_policy(PolicyName="Boundary", PolicyDocument=ALLOW)["Policy"]["Arn"]
    iam.call(f"Put{kind.name}PermissionsBoundary", {**who, "PermissionsBoundary": arn})
    got = iam.call(f"Get{kind.name}", who)
    check_iam_shape(f"Get{kind.name}", got)
    assert got[kind.output_member]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": arn}
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 1
    principal = iam_sim.principal(got[kind.output_member]["Arn"])
    assert iam_sim.service("iam").permissions_boundary(principal) is not None
    iam.call(f"Delete{kind.name}PermissionsBoundary", who)
    assert "PermissionsBoundary" not in iam.call(f"Get{kind.name}", who)[kind.output_member]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["PermissionsBoundaryUsageCount"] == 0
    assert iam_sim.service("iam").permissions_boundary(principal) is None


def test_inline_and_attached_policies_for_each_kind(iam, entity):
    kind, who = entity
    iam.call(f"Put{kind.name}Policy", {**who, "PolicyName": "p", "PolicyDocument": ALLOW})
    got = iam.call(f"Get{kind.name}Policy", {**who, "PolicyName": "p"})
    check_iam_shape(f"Get{kind.name}Policy", got)
    assert got[kind.name_member] == who[kind.name_member] and got["PolicyName"] == "p"
    arn = iam.create_policy(PolicyName="K", PolicyDocument=ALLOW)["Policy"]["Arn"]
    iam.call(f"Attach{kind.name}Policy", {**who, "PolicyArn": arn})
    iam.call(f"Attach{kind.name}Policy", {**who, "PolicyArn": arn})  # again: no change
    attached = iam.call(f"ListAttached{kind.name}Policies", who)
    assert attached["AttachedPolicies"] == [{"PolicyName": "K", "PolicyArn": arn}]
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 1
    with pytest.raises(ClientError) as info:
        iam.call(f"Delete{kind.name}", who)
    assert (info.value.code, info.value.status) == ("DeleteConflict", 409)
    assert info.value.message == "Cannot delete entity, must detach all policies first."
    iam.call(f"Detach{kind.name}Policy", {**who, "PolicyArn": arn})
    with pytest.raises(ClientError) as info:
        iam.call(f"Delete{kind.name}", who)
    assert info.value.message == "Cannot delete entity, must delete policies first."
    iam.call(f"Delete{kind.name}Policy", {**who, "PolicyName": "p"})
    iam.call(f"Delete{kind.name}", who)
    assert iam.call(f"List{kind.name}s", {})[f"{kind.name}s"] == []


def test_errors_name_the_kind_in_aws_words(iam, entity):
    kind, who = entity
    name = who[kind.name_member]
    with pytest.raises(ClientError) as info:
        iam.call(f"Get{kind.name}", {kind.name_member: "nobody"})
    assert (info.value.code, info.value.message) == (
        "NoSuchEntity", f"The {kind.noun} with name nobody cannot be found.")
    with pytest.raises(ClientError) as info:
        iam.call(f"Get{kind.name}Policy", {**who, "PolicyName": "none"})
    assert (info.value.code, info.value.message) == (
        "NoSuchEntity", f"The {kind.noun} policy with name none cannot be found.")
    again = {kind.name_member: name.upper()}
    if kind.has_trust_policy:
        again["AssumeRolePolicyDocument"] = TRUST
    with pytest.raises(ClientError) as info:
        iam.call(f"Create{kind.name}", again)
    assert (info.value.code, info.value.message) == (
        "EntityAlreadyExists", f"{kind.name} with name {name.upper()} already exists.")
    with pytest.raises(ClientError) as info:
        iam.call(f"Detach{kind.name}Policy",
                 {**who, "PolicyArn": f"arn:aws:iam::{ACCOUNT}:policy/None"})
    assert (info.value.code, info.value.message) == (
        "NoSuchEntity", f"Policy arn:aws:iam::{ACCOUNT}:policy/None was not found.")


def test_managed_policy_quota_names_the_kind(iam, entity):
    kind, who = entity
    arns = [iam.create_policy(PolicyName=f"P{i}", PolicyDocument=ALLOW)["Policy"]["Arn"]
            for i in range(11)]
    for arn in arns[:10]:
        iam.call(f"Attach{kind.name}Policy", {**who, "PolicyArn": arn})
    with pytest.raises(ClientError) as info:
        iam.call(f"Attach{kind.name}Policy", {**who, "PolicyArn": arns[10]})
    assert (info.value.code, info.value.message) == (
        "LimitExceeded", f"Cannot exceed quota for PoliciesPer{kind.name}: 10")
    assert info.value.status == 409


def test_get_user_without_a_name_is_the_calling_user(iam, iam_sim):
    arn = iam.create_user(UserName="alice")["User"]["Arn"]
    iam.put_user_policy(UserName="alice", PolicyName="self", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "iam:GetUser", "Resource": arn}]}))
    assert iam_sim.client("iam", principal=arn).get_user()["User"]["UserName"] == "alice"
    with pytest.raises(ClientError) as info:
        iam.get_user()  # the account root has no user name
    assert (info.value.code, info.value.message) == (
        "ValidationError", "Must specify userName when calling with non-User credentials")
