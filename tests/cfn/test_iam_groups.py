"""CloudFormation's IAM groups (AWS::IAM::Group, AWS::IAM::UserToGroupAddition) and managed or
inline policies on roles, users and groups: created, updated in place and deleted whole."""

from __future__ import annotations

import json

import pytest

from simulator import Simulation, errors

ACCOUNT = "111122223333"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
CAPS = ["CAPABILITY_NAMED_IAM"]


def template(*, path: str = "/", users: tuple[str, ...] = ("alice",),
             policy_on: str = "Groups") -> str:
    def allow(action: str) -> dict:
        return {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}

    return json.dumps({"Resources": {
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "task"}},
        "Team": {"Type": "AWS::IAM::Group", "Properties": {
            "GroupName": "storage", "Path": path,
            "Policies": [{"PolicyName": "ecs", "PolicyDocument": allow("ecs:ListClusters")}]}},
        "Members": {"Type": "AWS::IAM::UserToGroupAddition", "Properties": {
            "GroupName": {"Ref": "Team"}, "Users": list(users)}},
        "Keys": {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
            "ManagedPolicyName": "list-keys", "Description": "list keys",
            "PolicyDocument": allow("kms:ListKeys"),
            "Roles": [{"Ref": "Role"}], policy_on: [{"Ref": "Team"}] if policy_on == "Groups"
            else ["alice"]}},
        "Inline": {"Type": "AWS::IAM::Policy", "Properties": {
            "PolicyName": "describe", "PolicyDocument": allow("kms:DescribeKey"),
            policy_on: [{"Ref": "Team"}] if policy_on == "Groups" else ["alice"]}},
    }})


@pytest.fixture
def sim():
    sim = Simulation(account_id=ACCOUNT)
    iam = sim.client("iam")
    iam.create_user(UserName="alice")
    iam.create_user(UserName="bob")
    return sim


def status(cfn, name: str = "iam") -> str:
    return cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]


def test_a_stack_of_groups_gives_its_users_the_groups_policies_and_deletes_whole(sim):
    cfn, iam = sim.client("cloudformation"), sim.client("iam")
    stack = cfn.create_stack(StackName="iam", TemplateBody=template(),
                             Capabilities=CAPS)["StackId"]
    assert status(cfn) == "CREATE_COMPLETE"
    group = iam.get_group(GroupName="storage")
    assert [u["UserName"] for u in group["Users"]] == ["alice"]
    assert iam.list_group_policies(GroupName="storage")["PolicyNames"] == ["describe", "ecs"]
    policy = iam.list_policies(Scope="Local")["Policies"][0]
    assert (policy["PolicyName"], policy["AttachmentCount"]) == ("list-keys", 2)
    assert iam.get_policy(PolicyArn=policy["Arn"])["Policy"]["Description"] == "list keys"
    as_alice = {s: sim.client(s, ALICE) for s in ("ecs", "kms")}
    as_alice["ecs"].list_clusters()
    as_alice["kms"].list_keys()
    cfn.delete_stack(StackName="iam")
    # the managed policy was attached to a role and a group: it is detached, then deleted
    assert status(cfn, stack) == "DELETE_COMPLETE"
    assert iam.list_groups()["Groups"] == []
    assert iam.list_policies(Scope="Local")["Policies"] == []
    assert iam.list_groups_for_user(UserName="alice")["Groups"] == []
    with pytest.raises(errors.ClientError) as info:
        as_alice["ecs"].list_clusters()
    assert info.value.code == "AccessDeniedException"
    iam.delete_user(UserName="alice")  # no membership left behind


def test_groups_memberships_and_policy_holders_update_in_place(sim):
    cfn, iam = sim.client("cloudformation"), sim.client("iam")
    stack = cfn.create_stack(StackName="iam", TemplateBody=template(),
                             Capabilities=CAPS)["StackId"]
    group_id = iam.get_group(GroupName="storage")["Group"]["GroupId"]
    cfn.update_stack(StackName="iam", TemplateBody=template(path="/teams/", users=("bob",),
                                                           policy_on="Users"),
                     Capabilities=CAPS)
    assert status(cfn) == "UPDATE_COMPLETE"
    group = iam.get_group(GroupName="storage")
    assert group["Group"]["GroupId"] == group_id  # in place: the same group
    assert group["Group"]["Arn"] == f"arn:aws:iam::{ACCOUNT}:group/teams/storage"
    assert [u["UserName"] for u in group["Users"]] == ["bob"]
    assert iam.list_group_policies(GroupName="storage")["PolicyNames"] == ["ecs"]
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == ["describe"]
    assert [p["PolicyName"] for p in iam.list_attached_user_policies(
        UserName="alice")["AttachedPolicies"]] == ["list-keys"]
    assert iam.list_attached_group_policies(GroupName="storage")["AttachedPolicies"] == []
    cfn.delete_stack(StackName="iam")
    assert status(cfn, stack) == "DELETE_COMPLETE"
    assert iam.list_user_policies(UserName="alice")["PolicyNames"] == []
    assert iam.list_attached_user_policies(UserName="alice")["AttachedPolicies"] == []


def test_a_group_delete_that_failed_part_way_succeeds_when_retried(sim):
    """CloudFormation refuses to delete a group that still has users (IAM's DeleteConflict);
    once the user is removed, deleting the stack again finishes, though the group's policies
    went at the first try."""
    cfn, iam = sim.client("cloudformation"), sim.client("iam")
    stack = cfn.create_stack(StackName="iam", TemplateBody=template(users=("alice", "ALICE")),
                             Capabilities=CAPS)["StackId"]
    iam.add_user_to_group(GroupName="storage", UserName="bob")  # outside the stack
    cfn.delete_stack(StackName="iam")
    assert status(cfn, stack) == "DELETE_FAILED"
    reasons = [e.get("ResourceStatusReason", "") for e in cfn.describe_stack_events(
        StackName=stack)["StackEvents"] if e["ResourceStatus"] == "DELETE_FAILED"]
    assert any("must remove users from group first" in r for r in reasons), reasons
    iam.remove_user_from_group(GroupName="storage", UserName="bob")
    cfn.delete_stack(StackName=stack)
    assert status(cfn, stack) == "DELETE_COMPLETE"
    assert iam.list_groups()["Groups"] == []


def test_an_unnamed_group_and_its_members_need_only_capability_iam(sim):
    cfn = sim.client("cloudformation")
    body = json.dumps({"Resources": {
        "Team": {"Type": "AWS::IAM::Group"},
        "Members": {"Type": "AWS::IAM::UserToGroupAddition", "Properties": {
            "GroupName": {"Ref": "Team"}, "Users": ["alice"]}}}})
    cfn.create_stack(StackName="plain", TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    assert status(cfn, "plain") == "CREATE_COMPLETE"
    group = sim.client("iam").list_groups_for_user(UserName="alice")["Groups"][0]
    assert group["GroupName"] == "plain-Team"  # named as the simulator names roles
