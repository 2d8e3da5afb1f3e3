"""STS, IAM, CloudTrail and CloudFormation over HTTP as AWS answers them, with boto3 and the
real AWS CLI (v1) against the endpoint.

Sources: the AWS CLI's shipped example outputs (awscli/examples/{sts,iam,cloudformation}/),
recorded AccessDenied responses of STS (e.g.
https://github.com/Netflix/security_monkey/issues/77) and the API references cited in the
handlers.
"""

from __future__ import annotations

import json

import pytest

from tests.api.awscli_runner import AwsCli, refusal, refusal_explanation
from tests.api.conftest import ACCOUNT, TRUST_ACCOUNT, client, user_with_key

ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/ops"
ASSUME = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}
TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      Description: stack key
  Cluster:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: stack-cluster
Outputs:
  KeyArn:
    Description: the stack's key
    Value: !GetAtt Key.Arn
"""


def test_assume_role_denied_is_aws_sentence_without_a_reason(server):
    iam = client(server, "iam")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Condition": {"StringEquals": {"sts:ExternalId": "ext-123"}}}]}
    iam.create_role(RoleName="ops", AssumeRolePolicyDocument=json.dumps(trust))
    sts = client(server, "sts", user_with_key(server, "alice", ASSUME))
    user = f"arn:aws:iam::{ACCOUNT}:user/alice"
    assert refusal(sts.assume_role, RoleArn=ROLE_ARN, RoleSessionName="s1") == (
        "AccessDenied", 403,
        f"User: {user} is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}")
    missing = f"arn:aws:iam::{ACCOUNT}:role/nosuch"
    assert refusal(sts.assume_role, RoleArn=missing, RoleSessionName="s1")[2] == (
        f"User: {user} is not authorized to perform: sts:AssumeRole on resource: {missing}")
    ok = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="s1", ExternalId="ext-123")
    assert ok["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/s1"


def test_packed_policy_size_only_with_session_policies_or_tags(server):
    trust = dict(TRUST_ACCOUNT, Statement=[dict(
        TRUST_ACCOUNT["Statement"][0], Action=["sts:AssumeRole", "sts:TagSession"])])
    client(server, "iam").create_role(RoleName="ops", AssumeRolePolicyDocument=json.dumps(trust))
    sts = client(server, "sts", user_with_key(server, "alice", {
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"],
             "Resource": "*"}]}))
    plain = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="s1")
    assert "PackedPolicySize" not in plain
    tagged = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="s1",
                             Tags=[{"Key": "team", "Value": "blue"}])
    assert tagged["PackedPolicySize"] == 2
    limited = sts.assume_role(RoleArn=ROLE_ARN, RoleSessionName="s1", Policy=json.dumps(ASSUME))
    assert limited["PackedPolicySize"] >= 0


def test_get_session_token_acts_as_the_user_until_it_expires(server):
    user = user_with_key(server, "alice", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]})
    creds = client(server, "sts", user).get_session_token(DurationSeconds=900)["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["SecretAccessKey"]) == 40
    pair = (creds["AccessKeyId"], creds["SecretAccessKey"])
    sts = client(server, "sts", pair, creds["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice"
    client(server, "kms", pair, creds["SessionToken"]).create_key()  # the user's policy
    assert refusal(sts.get_session_token) == (
        "AccessDenied", 403, "Cannot call GetSessionToken with session credentials")
    # No IAM call without MFA (API_GetSessionToken.html); IAM's own XML words, 403
    # (https://github.com/aws/aws-cli/issues/8918), whatever the user's policies allow.
    iam = client(server, "iam", pair, creds["SessionToken"])
    assert refusal(iam.list_users) == (
        "InvalidClientTokenId", 403, "The security token included in the request is invalid")
    assert "get-session-token cannot call IAM" in refusal_explanation(iam.get_user)
    # the long-term key still can (denied or allowed by policy, not by its token)
    assert refusal(client(server, "iam", user).list_users)[0] == "AccessDenied"
    assert refusal(client(server, "sts", user).get_session_token,
                  DurationSeconds=129601)[:2] == ("ValidationError", 400)
    server.sim.clock.advance(900)
    assert refusal(sts.get_caller_identity) == (
        "ExpiredToken", 403, "The security token included in the request is expired")


def test_the_roots_session_token_lasts_one_hour_at_most(server):
    root = client(server, "sts").get_session_token(DurationSeconds=7200)["Credentials"]
    now = server.sim.clock.now()
    assert (root["Expiration"] - now).total_seconds() <= 3600
    sts = client(server, "sts", (root["AccessKeyId"], root["SecretAccessKey"]),
                 root["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"


def test_create_role_answers_without_max_session_duration(server):
    iam = client(server, "iam")
    made = iam.create_role(RoleName="ops", AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT),
                           MaxSessionDuration=7200)["Role"]
    assert set(made) == {"Path", "RoleName", "RoleId", "Arn", "CreateDate",
                         "AssumeRolePolicyDocument"}
    got = iam.get_role(RoleName="ops")["Role"]
    assert (got["MaxSessionDuration"], got["RoleLastUsed"]) == (7200, {})
    listed = iam.list_roles()["Roles"][0]
    assert listed["MaxSessionDuration"] == 7200 and "RoleLastUsed" not in listed


def test_a_trust_policy_that_is_not_json_is_invalid_json(server):
    iam = client(server, "iam")
    assert refusal(iam.create_role, RoleName="r", AssumeRolePolicyDocument="trust.json") == (
        "MalformedPolicyDocument", 400, "This policy contains invalid Json")
    iam.create_role(RoleName="r", AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))
    assert refusal(iam.update_assume_role_policy, RoleName="r",
                  PolicyDocument="{bad")[2] == "This policy contains invalid Json"
    # A permission policy that is not JSON keeps IAM's other words.
    assert refusal(iam.put_role_policy, RoleName="r", PolicyName="p",
                  PolicyDocument="policy.json")[2] == "Syntax errors in policy."


def test_cloudformation_lists_a_stacks_resources_and_events(server):
    cfn = client(server, "cloudformation")
    stack_id = cfn.create_stack(StackName="s1", TemplateBody=TEMPLATE)["StackId"]
    outputs = cfn.describe_stacks(StackName="s1")["Stacks"][0]["Outputs"]
    assert [(o["OutputKey"], o["Description"]) for o in outputs] == [
        ("KeyArn", "the stack's key")]
    resources = cfn.describe_stack_resources(StackName="s1")["StackResources"]
    assert [(r["LogicalResourceId"], r["ResourceType"], r["ResourceStatus"])
            for r in resources] == [("Key", "AWS::KMS::Key", "CREATE_COMPLETE"),
                                    ("Cluster", "AWS::ECS::Cluster", "CREATE_COMPLETE")]
    assert resources[1]["PhysicalResourceId"] == "stack-cluster"
    assert all(r["StackId"] == stack_id for r in resources)
    key_id = resources[0]["PhysicalResourceId"]
    by_physical = cfn.describe_stack_resources(PhysicalResourceId=key_id)["StackResources"]
    assert [r["LogicalResourceId"] for r in by_physical] == ["Key"]
    detail = cfn.describe_stack_resource(StackName="s1", LogicalResourceId="Key")
    assert detail["StackResourceDetail"]["PhysicalResourceId"] == key_id
    assert "LastUpdatedTimestamp" in detail["StackResourceDetail"]
    assert refusal(cfn.describe_stack_resource, StackName="s1", LogicalResourceId="Nope") == (
        "ValidationError", 400, "Resource Nope does not exist for stack s1")
    assert refusal(cfn.describe_stack_resources, StackName="nope")[2] == (
        "Stack with id nope does not exist")
    events = cfn.describe_stack_events(StackName="s1")["StackEvents"]
    assert (events[0]["LogicalResourceId"], events[0]["ResourceStatus"]) == (
        "s1", "CREATE_COMPLETE")
    assert (events[-1]["ResourceStatus"], events[-1]["ResourceStatusReason"]) == (
        "CREATE_IN_PROGRESS", "User Initiated")
    assert len({e["EventId"] for e in events}) == len(events) == 6
    cfn.delete_stack(StackName="s1")
    gone = cfn.describe_stack_resources(StackName=stack_id)["StackResources"]
    assert {r["ResourceStatus"] for r in gone} == {"DELETE_COMPLETE"}
    assert cfn.describe_stack_events(StackName=stack_id)["StackEvents"][0][
        "ResourceStatus"] == "DELETE_COMPLETE"


@pytest.mark.slow
def test_sts_iam_cloudtrail_and_cloudformation_with_the_aws_cli(server, tmp_path):
    aws = AwsCli(server.url, tmp_path)
    root = aws("sts", "get-caller-identity")
    assert root == {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": f"arn:aws:iam::{ACCOUNT}:root"}

    # IAM: a role with a trust policy (the CLI shows the URL-encoded document decoded).
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Condition": {"StringEquals": {"sts:ExternalId": "ext-123"}}}]}
    (tmp_path / "trust.json").write_text(json.dumps(trust))
    made = aws("iam", "create-role", "--role-name", "ops", "--assume-role-policy-document",
               f"file://{tmp_path / 'trust.json'}", "--max-session-duration", "7200")["Role"]
    assert made["AssumeRolePolicyDocument"] == trust and "MaxSessionDuration" not in made
    assert aws("iam", "get-role", "--role-name", "ops")["Role"]["MaxSessionDuration"] == 7200
    assert aws.fails("iam", "create-role", "--role-name", "ops", "--assume-role-policy-document",
                     json.dumps(trust)).endswith(
        "(EntityAlreadyExists) when calling the CreateRole operation: "
        "Role with name ops already exists.")
    assert aws.fails("iam", "get-role", "--role-name", "nope").endswith(
        "(NoSuchEntity) when calling the GetRole operation: "
        "The role with name nope cannot be found.")
    assert "(MalformedPolicyDocument) when calling the CreateRole operation" in aws.fails(
        "iam", "create-role", "--role-name", "bad", "--assume-role-policy-document",
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}')
    aws("iam", "put-role-policy", "--role-name", "ops", "--policy-name", "chain",
        "--policy-document", json.dumps(ASSUME))
    for n in range(3):
        aws("iam", "create-role", "--role-name", f"r{n}", "--assume-role-policy-document",
            json.dumps(TRUST_ACCOUNT))
    page = aws("iam", "list-roles", "--max-items", "2")
    assert [r["RoleName"] for r in page["Roles"]] == ["ops", "r0"] and "NextToken" in page
    rest = aws("iam", "list-roles", "--starting-token", page["NextToken"])
    assert [r["RoleName"] for r in rest["Roles"]] == ["r1", "r2"]

    # A user with its access key.
    aws("iam", "create-user", "--user-name", "alice")
    aws("iam", "put-user-policy", "--user-name", "alice", "--policy-name", "p",
        "--policy-document", json.dumps(ASSUME))
    key = aws("iam", "create-access-key", "--user-name", "alice")["AccessKey"]
    alice = aws.as_((key["AccessKeyId"], key["SecretAccessKey"]))
    who = alice("sts", "get-caller-identity")
    assert who["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/alice" and who["UserId"].startswith("AIDA")

    # AssumeRole: the trust policy's ExternalId condition, the duration bounds, root refused.
    assert alice.fails("sts", "assume-role", "--role-arn", ROLE_ARN, "--role-session-name",
                       "s1").endswith(
        f"User: arn:aws:iam::{ACCOUNT}:user/alice is not authorized to perform: "
        f"sts:AssumeRole on resource: {ROLE_ARN}")
    assume = ("sts", "assume-role", "--role-arn", ROLE_ARN, "--role-session-name", "s1",
              "--external-id", "ext-123")
    assert "The requested DurationSeconds exceeds the MaxSessionDuration set for this role." \
        in alice.fails(*assume, "--duration-seconds", "7201")
    assert "Member must have value less than or equal to 43200" in alice.fails(
        *assume, "--duration-seconds", "43201")
    assert "Roles may not be assumed by root accounts." in aws.fails(*assume)
    session = alice(*assume, "--duration-seconds", "900")
    assert "PackedPolicySize" not in session
    creds = session["Credentials"]
    ops = alice.as_((creds["AccessKeyId"], creds["SecretAccessKey"]), creds["SessionToken"])
    assert ops("sts", "get-caller-identity")["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/s1")
    # Role chaining: one hour at most.
    assert ("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
            "by role chaining.") in ops.fails(
        "sts", "assume-role", "--role-arn", f"arn:aws:iam::{ACCOUNT}:role/r0",
        "--role-session-name", "cc", "--duration-seconds", "3601")

    # CloudTrail: the refused chained AssumeRole is the newest (the session's name is its
    # Username); alice's successful one carries the session's credentials, no secret.
    found = aws("cloudtrail", "lookup-events", "--lookup-attributes",
                "AttributeKey=EventName,AttributeValue=AssumeRole", "--max-items", "1")
    event = found["Events"][0]
    assert (event["EventSource"], event["Username"]) == ("sts.amazonaws.com", "s1")
    chained = json.loads(event["CloudTrailEvent"])
    assert chained["errorCode"] == "ValidationError"
    # the session's own record: issued when alice assumed the role, no MFA
    # (cloudtrail-event-reference-user-identity.html)
    ident = chained["userIdentity"]
    assert (ident["type"], ident["accessKeyId"]) == ("AssumedRole", creds["AccessKeyId"])
    assert ident["sessionContext"]["sessionIssuer"]["arn"] == ROLE_ARN
    issued = ident["sessionContext"]["attributes"]
    assert issued["mfaAuthenticated"] == "false"
    assert issued["creationDate"] <= chained["eventTime"]
    assert issued["creationDate"].endswith("Z") and len(issued["creationDate"]) == 20
    by_user = aws("cloudtrail", "lookup-events", "--lookup-attributes",
                  "AttributeKey=Username,AttributeValue=alice")["Events"]
    assert {e["EventName"] for e in by_user} >= {"AssumeRole", "GetCallerIdentity"}
    records = [json.loads(e["CloudTrailEvent"]) for e in by_user
               if e["EventName"] == "AssumeRole"]
    done = next(r for r in records if "errorCode" not in r)
    assert done["requestParameters"]["roleArn"] == ROLE_ARN
    assert done["responseElements"]["credentials"]["accessKeyId"] == creds["AccessKeyId"]
    assert "secretAccessKey" not in json.dumps(done["responseElements"])

    # CloudFormation: create, wait, describe, resources, events, delete.
    (tmp_path / "t.yaml").write_text(TEMPLATE)
    stack_id = aws("cloudformation", "create-stack", "--stack-name", "s1", "--template-body",
                   f"file://{tmp_path / 't.yaml'}")["StackId"]
    aws("cloudformation", "wait", "stack-create-complete", "--stack-name", "s1")
    stack = aws("cloudformation", "describe-stacks", "--stack-name", "s1")["Stacks"][0]
    assert (stack["StackId"], stack["StackStatus"]) == (stack_id, "CREATE_COMPLETE")
    resources = aws("cloudformation", "describe-stack-resources", "--stack-name", "s1")
    assert {r["ResourceType"] for r in resources["StackResources"]} == {
        "AWS::KMS::Key", "AWS::ECS::Cluster"}
    events = aws("cloudformation", "describe-stack-events", "--stack-name", "s1",
                 "--max-items", "2")
    assert len(events["StackEvents"]) == 2 and "NextToken" in events
    aws("cloudformation", "delete-stack", "--stack-name", "s1")
    aws("cloudformation", "wait", "stack-delete-complete", "--stack-name", "s1")
