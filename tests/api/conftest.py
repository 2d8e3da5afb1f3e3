"""Fixtures: an authenticated endpoint on a free loopback port, and boto3 clients for it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import boto3
import pytest
from botocore.config import Config

from simulator import Simulation
from simulator.api import DEFAULT_ROOT_KEY, Authenticator, serve

ACCOUNT = "111122223333"
OPERATOR_ROLE = "customer-chosen-role"
TRUST_ACCOUNT = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Action": "sts:AssumeRole",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]}


def make_sim() -> Simulation:
    return Simulation(account_id=ACCOUNT, start_time=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def server():
    srv = serve(make_sim(), auth=Authenticator(), speed=0.0, make_sim=make_sim)
    yield srv
    srv.shutdown()
    srv.server_close()


def client(server, service, key=DEFAULT_ROOT_KEY, token=None, **kw):
    return boto3.client(
        service, endpoint_url=server.url, region_name="us-west-2",
        aws_access_key_id=key[0], aws_secret_access_key=key[1], aws_session_token=token,
        config=Config(retries={"max_attempts": 1}), **kw)


def user_with_key(server, name="alice", policy=None):
    """An IAM user with an access key and (optionally) an inline policy; its key pair."""
    iam = client(server, "iam")
    iam.create_user(UserName=name)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def operator_session(server, role=OPERATOR_ROLE, policy=None):
    """Root makes the operator role and a user allowed to assume it; the user assumes it.
    Returns the session's Credentials."""
    iam = client(server, "iam")
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(TRUST_ACCOUNT))
    iam.put_role_policy(RoleName=role, PolicyName="ops", PolicyDocument=json.dumps(
        policy or {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["ecs:*", "kms:*", "cloudtrail:*"],
             "Resource": "*"}]}))
    key = user_with_key(server, "deployer", {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]})
    sts = client(server, "sts", key)
    return sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                           RoleSessionName="ops")["Credentials"]
