"""IAM user groups: their operations, and their policies applying to every user in them."""

from __future__ import annotations

import json

import pytest

from simulator.errors import ClientError
from simulator.iam.state import GROUPS_PER_USER
from tests.iam.helpers import ACCOUNT, check_iam_shape

ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"


def doc(effect: str, action: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": effect, "Action": action, "Resource": "*"}]})


@pytest.fixture
def team(iam):
    iam.call("CreateUser", {"UserName": "alice"})
    created = iam.call("CreateGroup", {"GroupName": "storage", "Path": "/teams/"})
    check_iam_shape("CreateGroup", created)
    return created["Group"]


def code_of(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call()
    return info.value.code, info.value.message


def test_create_get_and_list_groups_in_iams_shapes(iam, team):
    assert team["GroupName"] == "storage" and team["Path"] == "/teams/"
    assert team["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/teams/storage"
    assert team["GroupId"].startswith("AGPA") and len(team["GroupId"]) == 21
    assert set(team) == {"Path", "GroupName", "GroupId", "Arn", "CreateDate"}
    iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"})
    got = iam.call("GetGroup", {"GroupName": "STORAGE"})  # names are case-insensitive
    check_iam_shape("GetGroup", got)
    assert got["Group"]["GroupName"] == "storage" and got["IsTruncated"] is False
    assert [u["UserName"] for u in got["Users"]] == ["alice"]
    listed = iam.call("ListGroups", {"PathPrefix": "/teams/"})
    check_iam_shape("ListGroups", listed)
    assert [g["GroupName"] for g in listed["Groups"]] == ["storage"]
    assert iam.call("ListGroups", {"PathPrefix": "/other/"})["Groups"] == []
    mine = iam.call("ListGroupsForUser", {"UserName": "alice"})
    check_iam_shape("ListGroupsForUser", mine)
    assert [g["Arn"] for g in mine["Groups"]] == [team["Arn"]]
    assert code_of(lambda: iam.call("CreateGroup", {"GroupName": "Storage"})) == (
        "EntityAlreadyExists", "Group with name Storage already exists.")
    assert code_of(lambda: iam.call("GetGroup", {"GroupName": "nope"})) == (
        "NoSuchEntity", "The group with name nope cannot be found.")


def test_get_group_pages_its_users(iam, team):
    for n in range(5):
        iam.call("CreateUser", {"UserName": f"u{n}"})
        iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": f"u{n}"})
    first = iam.call("GetGroup", {"GroupName": "storage", "MaxItems": 3})
    assert first["IsTruncated"] is True and len(first["Users"]) == 3
    rest = iam.call("GetGroup", {"GroupName": "storage", "Marker": first["Marker"]})
    assert [u["UserName"] for u in first["Users"] + rest["Users"]] == [f"u{n}" for n in range(5)]


def test_group_policies_apply_to_its_users_and_stop_when_they_leave(iam_sim, iam, team):
    ecs = iam_sim.client("ecs", ALICE)
    assert code_of(lambda: ecs.call("ListClusters", {}))[0] == "AccessDeniedException"
    iam.call("PutGroupPolicy", {"GroupName": "storage", "PolicyName": "ecs",
                                "PolicyDocument": doc("Allow", "ecs:ListClusters")})
    assert code_of(lambda: ecs.call("ListClusters", {}))[0] == "AccessDeniedException"
    iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"})
    assert ecs.call("ListClusters", {})["clusterArns"] == []
    got = iam.call("GetGroupPolicy", {"GroupName": "storage", "PolicyName": "ecs"})
    check_iam_shape("GetGroupPolicy", got)
    assert got["GroupName"] == "storage" and got["PolicyDocument"]["Statement"][0]["Action"] \
        == "ecs:ListClusters"
    assert iam.call("ListGroupPolicies", {"GroupName": "storage"})["PolicyNames"] == ["ecs"]
    iam.call("RemoveUserFromGroup", {"GroupName": "storage", "UserName": "alice"})
    assert code_of(lambda: ecs.call("ListClusters", {}))[0] == "AccessDeniedException"
    assert code_of(lambda: iam.call("RemoveUserFromGroup", {
        "GroupName": "storage", "UserName": "alice"})) == (
        "NoSuchEntity", "User alice not in group storage")
    assert code_of(lambda: iam.call("AddUserToGroup", {
        "GroupName": "storage", "UserName": "bob"})) == (
        "NoSuchEntity", "The user with name bob cannot be found.")


def test_attached_managed_policy_and_an_explicit_deny_in_a_group(iam_sim, iam, team):
    kms = iam_sim.client("kms", ALICE)
    arn = iam.call("CreatePolicy", {"PolicyName": "kms-list", "PolicyDocument": doc(
        "Allow", "kms:ListKeys")})["Policy"]["Arn"]
    iam.call("AttachGroupPolicy", {"GroupName": "storage", "PolicyArn": arn})
    listed = iam.call("ListAttachedGroupPolicies", {"GroupName": "storage"})
    check_iam_shape("ListAttachedGroupPolicies", listed)
    assert listed["AttachedPolicies"] == [{"PolicyName": "kms-list", "PolicyArn": arn}]
    assert iam.call("GetPolicy", {"PolicyArn": arn})["Policy"]["AttachmentCount"] == 1
    iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"})
    assert "Keys" in kms.call("ListKeys", {})
    # the user's own Allow does not beat a Deny of a group the user is in
    iam.call("PutUserPolicy", {"UserName": "alice", "PolicyName": "all",
                               "PolicyDocument": doc("Allow", "kms:*")})
    iam.call("CreateGroup", {"GroupName": "locked"})
    iam.call("PutGroupPolicy", {"GroupName": "locked", "PolicyName": "no",
                                "PolicyDocument": doc("Deny", "kms:ListKeys")})
    iam.call("AddUserToGroup", {"GroupName": "locked", "UserName": "alice"})
    code, message = code_of(lambda: kms.call("ListKeys", {}))
    assert code == "AccessDeniedException" and "explicit deny" in message
    iam.call("DetachGroupPolicy", {"GroupName": "storage", "PolicyArn": arn})
    assert iam.call("GetPolicy", {"PolicyArn": arn})["Policy"]["AttachmentCount"] == 0


def test_deleting_a_group_or_a_user_with_memberships_is_a_conflict(iam, team):
    iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"})
    iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"})  # again: no change
    assert len(iam.call("GetGroup", {"GroupName": "storage"})["Users"]) == 1
    words = "Cannot delete entity, must remove users from group first."
    assert code_of(lambda: iam.call("DeleteGroup", {"GroupName": "storage"})) == (
        "DeleteConflict", words)
    assert code_of(lambda: iam.call("DeleteUser", {"UserName": "alice"})) == (
        "DeleteConflict", words)
    iam.call("RemoveUserFromGroup", {"GroupName": "storage", "UserName": "alice"})
    iam.call("PutGroupPolicy", {"GroupName": "storage", "PolicyName": "p",
                                "PolicyDocument": doc("Allow", "ecs:ListClusters")})
    assert code_of(lambda: iam.call("DeleteGroup", {"GroupName": "storage"})) == (
        "DeleteConflict", "Cannot delete entity, must delete policies first.")
    iam.call("DeleteGroupPolicy", {"GroupName": "storage", "PolicyName": "p"})
    iam.call("DeleteGroup", {"GroupName": "storage"})
    iam.call("DeleteUser", {"UserName": "alice"})
    assert iam.call("ListGroups", {})["Groups"] == []


def test_group_quotas(iam, team):
    for n in range(GROUPS_PER_USER - 1):
        iam.call("CreateGroup", {"GroupName": f"g{n}"})
        iam.call("AddUserToGroup", {"GroupName": f"g{n}", "UserName": "alice"})
    iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"})
    iam.call("CreateGroup", {"GroupName": "one-more"})
    assert code_of(lambda: iam.call("AddUserToGroup", {
        "GroupName": "one-more", "UserName": "alice"})) == (
        "LimitExceeded", f"Cannot exceed quota for GroupsPerUser: {GROUPS_PER_USER}")
    big = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": f"ecs:Describe{'X' * 40}{n}", "Resource": "*"}
        for n in range(120)]})
    code, message = code_of(lambda: iam.call("PutGroupPolicy", {
        "GroupName": "storage", "PolicyName": "big", "PolicyDocument": big}))
    assert (code, message) == ("LimitExceeded",
                               "Maximum policy size of 5120 bytes exceeded for group storage")


def test_a_denied_group_operation_names_the_group(iam_sim, team):
    other = iam_sim.client("iam", ALICE)
    code, message = code_of(lambda: other.call("AddUserToGroup", {
        "GroupName": "storage", "UserName": "alice"}))
    assert code == "AccessDenied"
    assert message.startswith(f"User: {ALICE} is not authorized to perform: "
                              "iam:AddUserToGroup on resource: group storage")


def test_policy_simulator_counts_a_users_groups_and_simulates_a_group(iam, team):
    iam.call("PutGroupPolicy", {"GroupName": "storage", "PolicyName": "keys",
                                "PolicyDocument": doc("Allow", "kms:DescribeKey")})
    iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"})
    out = iam.call("SimulatePrincipalPolicy", {"PolicySourceArn": ALICE,
                                               "ActionNames": ["kms:DescribeKey", "kms:Decrypt"]})
    check_iam_shape("SimulatePrincipalPolicy", out)
    by_action = {r["EvalActionName"]: r for r in out["EvaluationResults"]}
    assert by_action["kms:DescribeKey"]["EvalDecision"] == "allowed"
    assert by_action["kms:Decrypt"]["EvalDecision"] == "implicitDeny"
    matched = by_action["kms:DescribeKey"]["MatchedStatements"]
    assert [(m["SourcePolicyId"], m["SourcePolicyType"]) for m in matched] == [("keys", "group")]
    as_group = iam.call("SimulatePrincipalPolicy", {"PolicySourceArn": team["Arn"],
                                                    "ActionNames": ["kms:DescribeKey"]})
    assert as_group["EvaluationResults"][0]["EvalDecision"] == "allowed"
    keys = iam.call("GetContextKeysForPrincipalPolicy", {"PolicySourceArn": team["Arn"]})
    assert keys["ContextKeyNames"] == []
    code, _ = code_of(lambda: iam.call("SimulatePrincipalPolicy", {
        "PolicySourceArn": f"arn:aws:iam::{ACCOUNT}:group/none", "ActionNames": ["kms:Decrypt"]}))
    assert code == "NoSuchEntity"


def test_update_group_renames_and_moves_it_keeping_users_and_policies(iam_sim, iam, team):
    iam.call("AddUserToGroup", {"GroupName": "storage", "UserName": "alice"})
    iam.call("PutGroupPolicy", {"GroupName": "storage", "PolicyName": "ecs",
                                "PolicyDocument": doc("Allow", "ecs:ListClusters")})
    iam.call("UpdateGroup", {"GroupName": "storage", "NewGroupName": "fargate", "NewPath": "/x/"})
    got = iam.call("GetGroup", {"GroupName": "fargate"})["Group"]
    assert got["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/x/fargate"
    assert got["GroupId"] == team["GroupId"]
    assert code_of(lambda: iam.call("GetGroup", {"GroupName": "storage"}))[0] == "NoSuchEntity"
    assert iam_sim.client("ecs", ALICE).call("ListClusters", {})["clusterArns"] == []
    iam.call("CreateGroup", {"GroupName": "other"})
    assert code_of(lambda: iam.call("UpdateGroup", {
        "GroupName": "other", "NewGroupName": "FARGATE"})) == (
        "EntityAlreadyExists", "Group with name FARGATE already exists.")


def test_list_entities_for_policy_names_groups_users_and_roles_by_use(iam, team):
    arn = iam.call("CreatePolicy", {"PolicyName": "p", "PolicyDocument": doc(
        "Allow", "ecs:ListClusters")})["Policy"]["Arn"]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ecs-tasks.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    role = iam.call("CreateRole", {"RoleName": "task", "AssumeRolePolicyDocument": trust,
                                   "Path": "/svc/"})["Role"]
    iam.call("AttachGroupPolicy", {"GroupName": "storage", "PolicyArn": arn})
    iam.call("AttachRolePolicy", {"RoleName": "task", "PolicyArn": arn})
    iam.call("PutUserPermissionsBoundary", {"UserName": "alice", "PermissionsBoundary": arn})
    out = iam.call("ListEntitiesForPolicy", {"PolicyArn": arn})
    check_iam_shape("ListEntitiesForPolicy", out)
    assert out["PolicyGroups"] == [{"GroupName": "storage", "GroupId": team["GroupId"]}]
    assert out["PolicyRoles"] == [{"RoleName": "task", "RoleId": role["RoleId"]}]
    assert [u["UserName"] for u in out["PolicyUsers"]] == ["alice"]
    assert out["IsTruncated"] is False
    attached = iam.call("ListEntitiesForPolicy", {"PolicyArn": arn,
                                                  "PolicyUsageFilter": "PermissionsPolicy"})
    assert attached["PolicyUsers"] == [] and len(attached["PolicyRoles"]) == 1
    bounded = iam.call("ListEntitiesForPolicy", {"PolicyArn": arn,
                                                 "PolicyUsageFilter": "PermissionsBoundary"})
    assert (bounded["PolicyGroups"], len(bounded["PolicyUsers"])) == ([], 1)
    roles = iam.call("ListEntitiesForPolicy", {"PolicyArn": arn, "EntityFilter": "Role"})
    assert (roles["PolicyGroups"], roles["PolicyUsers"]) == ([], [])
    assert iam.call("ListEntitiesForPolicy", {"PolicyArn": arn, "PathPrefix": "/svc/"})[
        "PolicyRoles"][0]["RoleName"] == "task"
    assert iam.call("ListEntitiesForPolicy", {"PolicyArn": arn, "EntityFilter":
                                              "AWSManagedPolicy"})["PolicyRoles"] == []
    first = iam.call("ListEntitiesForPolicy", {"PolicyArn": arn, "MaxItems": 2})
    assert first["IsTruncated"] is True
    assert (len(first["PolicyGroups"]), len(first["PolicyUsers"]), first["PolicyRoles"]) == (
        1, 1, [])
    rest = iam.call("ListEntitiesForPolicy", {"PolicyArn": arn, "Marker": first["Marker"]})
    assert [r["RoleName"] for r in rest["PolicyRoles"]] == ["task"]
    assert rest["IsTruncated"] is False
