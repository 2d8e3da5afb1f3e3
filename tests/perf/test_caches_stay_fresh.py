"""Caches on the hot path never serve a stale answer, and the deferred audit trail reads as
a plain list of records to every reader."""

from __future__ import annotations

import json
import pickle

import pytest

from simulator import Simulation, errors
from simulator.audit import DeferredRecordChanged, checked_render

ACCOUNT = "111122223333"
SERVICE = "fargate.amazonaws.com"


def _policy(*statements: dict) -> str:
    root = {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*", "Resource": "*"}
    return json.dumps({"Version": "2012-10-17", "Statement": [root, *statements]})


def _service_may_describe(**condition: dict) -> dict:
    st = {"Sid": "svc", "Effect": "Allow", "Principal": {"Service": SERVICE},
          "Action": "kms:DescribeKey", "Resource": "*"}
    if condition:
        st["Condition"] = condition
    return st


@pytest.fixture
def sim():
    return Simulation(account_id=ACCOUNT)


def _allowed(client, key: str) -> bool:
    try:
        client.describe_key(KeyId=key)
    except errors.ClientError as exc:
        assert exc.code == "AccessDeniedException"
        return False
    return True


def test_key_tag_changes_reach_the_next_call_of_the_same_instant(sim):
    kms = sim.client("kms")
    key = kms.create_key(Policy=_policy(_service_may_describe(
        StringEquals={"aws:ResourceTag/env": "prod"})))["KeyMetadata"]["Arn"]
    svc = sim.client("kms", SERVICE)
    now = sim.clock.time()
    assert not _allowed(svc, key)
    kms.tag_resource(KeyId=key, Tags=[{"TagKey": "env", "TagValue": "prod"}])
    assert _allowed(svc, key)
    kms.untag_resource(KeyId=key, TagKeys=["env"])
    assert not _allowed(svc, key)
    assert sim.clock.time() == now  # all in one instant: one request-context cache entry


def test_a_new_key_policy_applies_to_the_next_call_of_the_same_instant(sim):
    kms = sim.client("kms")
    key = kms.create_key(Policy=_policy(_service_may_describe()))["KeyMetadata"]["Arn"]
    svc = sim.client("kms", SERVICE)
    assert _allowed(svc, key)
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=_policy())
    assert not _allowed(svc, key)
    kms.put_key_policy(KeyId=key, PolicyName="default", Policy=_policy(_service_may_describe()))
    assert _allowed(svc, key)


def test_iam_policy_changes_apply_to_the_next_call_of_the_same_instant(sim):
    iam = sim.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "sts:AssumeRole"}]})
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    key = sim.client("kms").create_key(Policy=_policy())["KeyMetadata"]["Arn"]
    caller = sim.client("kms", role)
    assert not _allowed(caller, key)
    doc = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]}
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(doc))
    assert _allowed(caller, key)
    doc["Statement"][0]["Effect"] = "Deny"
    iam.put_role_policy(RoleName="r", PolicyName="p", PolicyDocument=json.dumps(doc))
    assert not _allowed(caller, key)
    iam.delete_role_policy(RoleName="r", PolicyName="p")
    assert not _allowed(caller, key)
    arn = iam.create_policy(PolicyName="m", PolicyDocument=json.dumps(
        {**doc, "Statement": [{**doc["Statement"][0], "Effect": "Allow"}]}))["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="r", PolicyArn=arn)
    assert _allowed(caller, key)
    iam.create_policy_version(PolicyArn=arn, SetAsDefault=True, PolicyDocument=json.dumps(doc))
    assert not _allowed(caller, key)  # the new default version denies


def test_the_deferred_trail_reads_as_a_list_of_records_to_every_reader(sim):
    kms = sim.client("kms")
    trail = sim.audit_trail  # a reference held across calls
    before = len(trail)
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.describe_key(KeyId=key)
    with pytest.raises(errors.ClientError):
        kms.describe_key(KeyId="alias/missing")
    assert len(trail) == before + 3
    assert [r["eventName"] for r in trail[before:]] == ["CreateKey", "DescribeKey",
                                                        "DescribeKey"]
    assert trail[-1]["errorCode"] == "NotFoundException"
    assert trail.names("kms")[-3:] == ["CreateKey", "DescribeKey", "DescribeKey"]
    kms.list_keys()
    assert json.loads(json.dumps(sim.audit_trail))[-1]["eventName"] == "ListKeys"
    kms.list_aliases()
    assert pickle.loads(pickle.dumps(trail))[-1]["eventName"] == "ListAliases"
    kms.list_keys()
    assert trail == list(sim.audit_trail) and trail[-1]["eventName"] == "ListKeys"
    ids = [r["eventID"] for r in trail]
    assert len(set(ids)) == len(ids)
    kms.list_keys()
    sim.audit_trail.clear()
    kms.list_aliases()
    assert [r["eventName"] for r in trail] == ["ListAliases"]


def test_deferred_and_immediate_records_are_the_same_run():
    """eventIDs are drawn at call time, so a run's records do not depend on when it is read."""
    def run(read_each: bool) -> list[dict]:
        s = Simulation(account_id=ACCOUNT, seed=5)
        kms = s.client("kms")
        for _ in range(3):
            kms.create_key()
            if read_each:
                len(s.audit_trail)
        return list(s.audit_trail)

    assert run(True) == run(False)


def test_checked_render_catches_a_record_that_changes_after_the_call():
    params = {"KeyId": "k"}
    render = checked_render(lambda: {"eventName": "X", "requestParameters": dict(params)})
    params["KeyId"] = "other"
    with pytest.raises(DeferredRecordChanged):
        render()
