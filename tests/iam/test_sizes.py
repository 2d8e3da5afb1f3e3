"""IAM's and KMS's policy size quotas, wherever a document enters, in AWS's words.

IAM: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html ("IAM does not
count white space"); KMS: "If the key policy exceeds the length constraint, KMS returns a
LimitExceededException" (PutKeyPolicy, CreateKey), 32 KB.
"""

from __future__ import annotations

import json

import pytest

from simulator import Simulation
from simulator.errors import ClientError
from simulator.iam.sizes import POLICY_SIZE_QUOTAS, policy_size
from tests.iam.helpers import ACCOUNT

TRUST = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole",
     "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}


def sized(n: int, trust: bool = False) -> str:
    """A valid policy of exactly ``n`` characters as IAM counts them (indented: white space
    is not counted)."""
    base = json.loads(json.dumps(TRUST)) if trust else {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/"}]}
    st = base["Statement"][0]
    st["Sid"] = ""
    pad = n - policy_size(json.dumps(base))
    assert pad >= 0
    st["Sid"] = "S" * pad
    text = json.dumps(base, indent=4)
    assert policy_size(text) == n and len(text) > n
    return text


@pytest.fixture
def iam():
    sim = Simulation(account_id=ACCOUNT)
    client = sim.client("iam")
    client.create_role(RoleName="R", AssumeRolePolicyDocument=json.dumps(TRUST))
    client.create_user(UserName="alice")
    return client


def _refused(call, **params) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**params)
    assert info.value.code == "LimitExceeded" and info.value.status == 409
    assert "white space not counted" in info.value.explanation
    return info.value


def test_managed_policy_6144(iam):
    assert POLICY_SIZE_QUOTAS["managed"].limit == 6144
    arn = iam.create_policy(PolicyName="Fits", PolicyDocument=sized(6144))["Policy"]["Arn"]
    err = _refused(iam.create_policy, PolicyName="Big", PolicyDocument=sized(6145))
    assert err.message == "Cannot exceed quota for PolicySize: 6144"
    err = _refused(iam.create_policy_version, PolicyArn=arn, PolicyDocument=sized(6145))
    assert err.message == "Cannot exceed quota for PolicySize: 6144"
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=sized(6144))


def test_role_inline_policies_10240_together(iam):
    iam.put_role_policy(RoleName="R", PolicyName="a", PolicyDocument=sized(6000))
    iam.put_role_policy(RoleName="R", PolicyName="b", PolicyDocument=sized(4240))  # 10240
    err = _refused(iam.put_role_policy, RoleName="R", PolicyName="c", PolicyDocument=sized(200))
    assert err.message == "Maximum policy size of 10240 bytes exceeded for role R"
    # replacing a policy counts its new size, not both
    iam.put_role_policy(RoleName="R", PolicyName="b", PolicyDocument=sized(4000))


def test_user_inline_policies_2048(iam):
    iam.put_user_policy(UserName="alice", PolicyName="a", PolicyDocument=sized(2048))
    err = _refused(iam.put_user_policy, UserName="alice", PolicyName="b",
                   PolicyDocument=sized(200))
    assert err.message == "Maximum policy size of 2048 bytes exceeded for user alice"


def test_trust_policy_2048(iam):
    iam.create_role(RoleName="Fits", AssumeRolePolicyDocument=sized(2048, trust=True))
    err = _refused(iam.create_role, RoleName="Big",
                   AssumeRolePolicyDocument=sized(2049, trust=True))
    assert err.message == "Cannot exceed quota for ACLSizePerRole: 2048"
    err = _refused(iam.update_assume_role_policy, RoleName="R",
                   PolicyDocument=sized(2049, trust=True))
    assert err.message == "Cannot exceed quota for ACLSizePerRole: 2048"


def test_a_huge_policy_is_refused_by_its_size_before_it_is_read(iam):
    # 50,000 statements: IAM's quota refuses it long before the parser would matter
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": f"S{i}", "Effect": "Allow", "Action": "s3:GetObject",
         "Resource": f"arn:aws:s3:::b{i}/*"} for i in range(50_000)]}
    text = json.dumps(doc)
    with pytest.raises(ClientError) as info:
        iam.create_policy(PolicyName="Huge", PolicyDocument=text)
    # past the model's length limit (131072): IAM's ValidationError, from the front door
    assert info.value.code == "ValidationError"
    with pytest.raises(ClientError) as info:
        iam.create_policy(PolicyName="Huge", PolicyDocument=text[:131000])
    assert info.value.code == "LimitExceeded"


def test_key_policy_32_kb():
    sim = Simulation(account_id=ACCOUNT)
    kms = sim.client("kms")
    statement = {"Sid": "", "Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                 "Action": "kms:*", "Resource": "*"}
    base = {"Version": "2012-10-17", "Statement": [statement]}
    statement["Sid"] = "S" * (32768 - len(json.dumps(base)))
    fits = json.dumps(base)
    assert len(fits.encode()) == 32768
    kms.create_key(Policy=fits)
    statement["Sid"] += "S"
    with pytest.raises(ClientError) as info:
        kms.create_key(Policy=json.dumps(base))
    assert info.value.code == "LimitExceededException"
    assert info.value.message == "The key policy size quota is 32 kilobytes (32768 bytes)."
    assert "32769 bytes" in info.value.explanation
