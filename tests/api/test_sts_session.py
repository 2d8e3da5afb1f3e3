"""STS AssumeRole session policies and session tags, over HTTP with boto3."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.api.conftest import ACCOUNT, client, user_with_key

ROLE = f"arn:aws:iam::{ACCOUNT}:role/ops"


def _trust(actions):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": actions,
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}


def _setup(server, trust_actions=("sts:AssumeRole", "sts:TagSession"), role_tags=None):
    iam = client(server, "iam")
    iam.create_role(RoleName="ops",
                    AssumeRolePolicyDocument=json.dumps(_trust(list(trust_actions))),
                    Tags=[{"Key": k, "Value": v} for k, v in (role_tags or {}).items()])
    iam.put_role_policy(RoleName="ops", PolicyName="all", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["kms:*", "sts:AssumeRole", "sts:TagSession"],
             "Resource": "*"}]}))
    key = user_with_key(server, "deployer", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"], "Resource": "*"}]})
    kms_root = client(server, "kms")
    return client(server, "sts", key), kms_root


def _as(server, creds, service):
    return client(server, service, (creds["AccessKeyId"], creds["SecretAccessKey"]),
                  creds["SessionToken"])


def test_a_session_policy_limits_the_session_to_the_intersection(server):
    sts, _ = _setup(server)
    only_list = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["kms:ListKeys", "kms:CreateKey"], "Resource": "*"}]})
    out = sts.assume_role(RoleArn=ROLE, RoleSessionName="ss", Policy=only_list)
    assert out["PackedPolicySize"] > 0
    kms = _as(server, out["Credentials"], "kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.list_keys()
    with pytest.raises(ClientError) as info:
        kms.describe_key(KeyId=key)  # the role allows it, the session policy does not
    err = info.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert "because no session policy allows the kms:DescribeKey action" in err["Message"]


def test_a_session_policy_never_grants_more_than_the_role(server):
    sts, _ = _setup(server)
    everything = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
    creds = sts.assume_role(RoleArn=ROLE, RoleSessionName="ss", Policy=everything)["Credentials"]
    with pytest.raises(ClientError) as info:
        _as(server, creds, "ecs").list_clusters()  # the role has no ecs:* permission
    err = info.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert "because no identity-based policy allows the ecs:ListClusters" in err["Message"]


def test_an_explicit_deny_in_a_session_policy_denies(server):
    sts, _ = _setup(server)
    deny = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kms:ListKeys", "Resource": "*"}]})
    creds = sts.assume_role(RoleArn=ROLE, RoleSessionName="ss", Policy=deny)["Credentials"]
    with pytest.raises(ClientError) as info:
        _as(server, creds, "kms").list_keys()
    assert "with an explicit deny in a session policy" in info.value.response["Error"][
        "Message"]


def test_managed_session_policies_limit_too(server):
    sts, _ = _setup(server)
    iam = client(server, "iam")
    arn = iam.create_policy(PolicyName="list-only", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}))["Policy"]["Arn"]
    creds = sts.assume_role(RoleArn=ROLE, RoleSessionName="ss",
                            PolicyArns=[{"arn": arn}])["Credentials"]
    kms = _as(server, creds, "kms")
    kms.list_keys()
    with pytest.raises(ClientError):
        kms.create_key()
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=ROLE, RoleSessionName="ss",
                        PolicyArns=[{"arn": f"arn:aws:iam::{ACCOUNT}:policy/none"}])
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_a_malformed_session_policy_is_refused(server):
    sts, _ = _setup(server)
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=ROLE, RoleSessionName="ss", Policy='{"Statement": 5}')
    assert info.value.response["Error"]["Code"] == "MalformedPolicyDocument"


def test_session_tags_are_principal_tags_and_override_the_roles(server):
    sts, kms_root = _setup(server, role_tags={"team": "role-value", "env": "prod"})
    key = kms_root.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:DescribeKey", "Resource": "*",
         "Condition": {"StringNotEquals": {"aws:PrincipalTag/team": "blue"}}}]}))[
        "KeyMetadata"]["KeyId"]
    blue = sts.assume_role(RoleArn=ROLE, RoleSessionName="bb",
                           Tags=[{"Key": "Team", "Value": "blue"}])["Credentials"]
    _as(server, blue, "kms").describe_key(KeyId=key)  # the session tag wins over the role's
    plain = sts.assume_role(RoleArn=ROLE, RoleSessionName="pp")["Credentials"]
    with pytest.raises(ClientError) as info:
        _as(server, plain, "kms").describe_key(KeyId=key)  # the role's own tag: role-value
    assert info.value.response["Error"]["Code"] == "AccessDeniedException"


def test_session_tags_need_sts_tag_session_in_the_trust_policy(server):
    sts, _ = _setup(server, trust_actions=("sts:AssumeRole",))
    sts.assume_role(RoleArn=ROLE, RoleSessionName="ss")  # without tags: fine
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=ROLE, RoleSessionName="ss", Tags=[{"Key": "a", "Value": "b"}])
    err = info.value.response["Error"]
    assert err["Code"] == "AccessDenied" and "sts:TagSession" in err["Message"]


def test_transitive_tags_pass_along_a_role_chain(server):
    sts, _ = _setup(server)
    first = sts.assume_role(RoleArn=ROLE, RoleSessionName="one",
                            Tags=[{"Key": "project", "Value": "x"},
                                  {"Key": "temp", "Value": "y"}],
                            TransitiveTagKeys=["project"])["Credentials"]
    chained = _as(server, first, "sts")
    second = chained.assume_role(RoleArn=ROLE, RoleSessionName="two")["Credentials"]
    session = server.sim.service("sts").sessions[second["AccessKeyId"]]
    assert session.tags == {"project": "x"}
    with pytest.raises(ClientError) as info:
        chained.assume_role(RoleArn=ROLE, RoleSessionName="three",
                            Tags=[{"Key": "Project", "Value": "other"}])
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=ROLE, RoleSessionName="ss", Tags=[{"Key": "a", "Value": "b"}],
                        TransitiveTagKeys=["b"])
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_mfa_is_still_refused_by_name(server):
    sts, _ = _setup(server)
    with pytest.raises(ClientError) as info:
        sts.assume_role(RoleArn=ROLE, RoleSessionName="ss",
                        SerialNumber="arn:aws:iam::111122223333:mfa/u", TokenCode="123456")
    assert "MFA" in info.value.response["Error"]["Message"]


def _key_naming(kms_root, principal_arn):
    return kms_root.create_key(BypassPolicyLockoutSafetyCheck=True, Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Sid": "root", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
             "Resource": "*"},
            {"Sid": "named", "Effect": "Allow", "Principal": {"AWS": principal_arn},
             "Action": "kms:DescribeKey", "Resource": "*"}]}))["KeyMetadata"]["KeyId"]


def test_a_key_policy_naming_the_session_arn_is_not_limited_by_the_session_policy(server):
    # IAM User Guide, Session policies: "A resource-based policy can specify the ARN of the
    # session as a principal ... The resource-based policy permissions are not limited by the
    # session policy."; one naming the role's ARN is.
    sts, kms_root = _setup(server)
    only_list = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]})
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/ops/named"
    to_session = _key_naming(kms_root, session_arn)
    to_role = _key_naming(kms_root, ROLE)
    out = sts.assume_role(RoleArn=ROLE, RoleSessionName="named", Policy=only_list)
    assert out["AssumedRoleUser"]["Arn"] == session_arn
    kms = _as(server, out["Credentials"], "kms")
    kms.describe_key(KeyId=to_session)
    with pytest.raises(ClientError) as info:
        kms.describe_key(KeyId=to_role)
    err = info.value.response["Error"]
    assert err["Code"] == "AccessDeniedException"
    assert err["Message"].endswith("because no session policy allows the kms:DescribeKey action")


def test_an_explicit_deny_in_a_managed_session_policy_is_named_by_its_arn(server):
    sts, _ = _setup(server)
    iam = client(server, "iam")
    arn = iam.create_policy(PolicyName="no-list", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"},
            {"Effect": "Deny", "Action": "kms:ListKeys", "Resource": "*"}]}))["Policy"]["Arn"]
    creds = sts.assume_role(RoleArn=ROLE, RoleSessionName="ss",
                            PolicyArns=[{"arn": arn}])["Credentials"]
    with pytest.raises(ClientError) as info:
        _as(server, creds, "kms").list_keys()
    assert info.value.response["Error"]["Message"].endswith(
        f"with an explicit deny in a session policy: {arn}")
