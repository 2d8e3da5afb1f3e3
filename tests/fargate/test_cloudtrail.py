"""Fargate's CloudTrail records against AWS's published examples, field by field.

The examples: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-managing-kms-key.html
(GenerateDataKeyWithoutPlaintext, its DryRun, CreateGrant, its DryRun, RetireGrant) and the
AWS Compute Blog post of 2024-06-10 (the real CreateGrant).
"""

from __future__ import annotations

from datetime import datetime

import pytest

from simulator import errors
from simulator.audit import read_only
from simulator.fargate.agent import DRY_RUN_LEAD_SECONDS
from tests.ecs.helpers import CLUSTER, make_cluster, make_key, register, run

FRONTEND = "ec2-frontend-api.amazonaws.com"
FARGATE = "fargate.amazonaws.com"

#: (example, eventName, dry run?, invokedBy, readOnly, responseElements keys) from AWS's page.
EXAMPLES = [
    ("GenerateDataKeyWithoutPlaintext (DryRun)", "GenerateDataKeyWithoutPlaintext", True,
     FARGATE, True, None),
    ("CreateGrant (DryRun)", "CreateGrant", True, FARGATE, False, None),
    ("GenerateDataKeyWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", False, FRONTEND,
     True, None),
    ("CreateGrant", "CreateGrant", False, FRONTEND, False, {"grantId", "keyId"}),
    ("RetireGrant", "RetireGrant", False, "AWS Internal", False, {"keyId"}),
]


@pytest.fixture
def trail(sim):
    """The KMS records of one task's start and stop, by example name, and the key."""
    key = make_key(sim)
    make_cluster(sim, key=key)
    before = len(sim.audit_trail)
    [task] = run(sim, register(sim))
    sim.client("ecs").stop_task(cluster=CLUSTER, task=task["taskArn"])
    sim.fargate.settle()
    recs = [r for r in sim.audit_trail[before:] if r["eventSource"] == "kms.amazonaws.com"]
    names = [r["eventName"] for r in recs]
    assert names == ["GenerateDataKeyWithoutPlaintext", "CreateGrant",
                     "GenerateDataKeyWithoutPlaintext", "CreateGrant", "Decrypt", "RetireGrant"]
    by_example = dict(zip([e[0] for e in EXAMPLES], recs[:4] + recs[5:], strict=True))
    by_example["Decrypt"] = recs[4]
    return key, by_example


@pytest.mark.parametrize(("example", "name", "dry", "invoked_by", "ro", "response"), EXAMPLES)
def test_each_record_matches_aws_example(trail, example, name, dry, invoked_by, ro, response):
    key, recs = trail
    rec = recs[example]
    assert rec["eventName"] == name
    assert rec["userIdentity"] == {"type": "AWSService", "invokedBy": invoked_by}
    assert rec["sourceIPAddress"] == rec["userAgent"] == invoked_by
    assert rec["readOnly"] is ro
    assert (rec.get("errorCode") == "DryRunOperationException") is dry
    if response is None:
        assert rec["responseElements"] is None
    else:
        assert set(rec["responseElements"]) == response
        assert rec["responseElements"]["keyId"] == key
    assert rec["resources"] == [{"accountId": "AWS Internal", "type": "AWS::KMS::Key",
                                 "ARN": key}]
    assert rec["sharedEventID"] != rec["eventID"]
    assert rec["eventCategory"] == "Management" and rec["managementEvent"] is True


def test_dry_runs_come_two_seconds_before_the_real_calls(trail):
    _, recs = trail

    def at(example: str) -> datetime:
        return datetime.fromisoformat(recs[example]["eventTime"].replace("Z", "+00:00"))

    dry = at("GenerateDataKeyWithoutPlaintext (DryRun)")
    assert at("CreateGrant (DryRun)") == dry
    # AWS's example: dry runs at 18:08:11, the real calls at 18:08:13.
    assert (at("GenerateDataKeyWithoutPlaintext") - dry).total_seconds() == DRY_RUN_LEAD_SECONDS
    assert at("CreateGrant") == at("GenerateDataKeyWithoutPlaintext") == at("Decrypt")


def test_the_lead_does_not_change_when_the_task_runs(sim):
    """The dry runs move inside PROVISIONING; RUNNING comes when it always did."""
    make_cluster(sim, key=make_key(sim))
    ecs = sim.client("ecs")
    start = sim.clock.time()
    arn = ecs.run_task(cluster=CLUSTER, taskDefinition=register(sim), launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {
                           "subnets": ["subnet-12345678"]}})["tasks"][0]["taskArn"]
    sim.clock.advance(sim.ecs.timings.start_seconds())
    [task] = ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"]
    assert task["lastStatus"] == "RUNNING"
    assert task["startedAt"].timestamp() == start + sim.ecs.timings.start_seconds()


def test_a_dry_run_refusal_stops_the_task_before_the_real_calls(sim):
    key = make_key(sim, cluster="elsewhere")  # the key policy names another cluster
    make_cluster(sim, key=key)
    before = len(sim.audit_trail)
    [task] = run(sim, register(sim))
    names = [r["eventName"] for r in sim.audit_trail[before:]
             if r["eventSource"] == "kms.amazonaws.com"]
    assert names == ["GenerateDataKeyWithoutPlaintext"]
    assert task["stopCode"] == "TaskFailedToStart"
    assert "AccessDeniedException" in task["stoppedReason"]


@pytest.mark.parametrize(("source", "operation", "expected"), [
    ("kms.amazonaws.com", "GenerateDataKeyWithoutPlaintext", True),
    ("kms.amazonaws.com", "Decrypt", True),
    ("kms.amazonaws.com", "Encrypt", True),
    ("kms.amazonaws.com", "ReEncrypt", True),
    ("kms.amazonaws.com", "GenerateDataKey", True),
    ("kms.amazonaws.com", "GenerateDataKeyPair", True),
    ("kms.amazonaws.com", "GenerateRandom", True),
    ("kms.amazonaws.com", "DescribeKey", True),
    ("kms.amazonaws.com", "ListGrants", True),
    ("kms.amazonaws.com", "CreateGrant", False),
    ("kms.amazonaws.com", "RetireGrant", False),
    ("kms.amazonaws.com", "CreateKey", False),
    ("ecs.amazonaws.com", "DescribeTasks", True),
    ("ecs.amazonaws.com", "RunTask", False),
    ("ecs.amazonaws.com", "Decrypt", False),
])
def test_read_only_follows_cloudtrail(source, operation, expected):
    assert read_only(source, operation) is expected


def test_a_users_records_keep_the_keys_account(sim):
    key = make_key(sim)
    before = len(sim.audit_trail)
    sim.client("kms").create_grant(KeyId=key, GranteePrincipal="fargate.us-west-2.amazonaws.com",
                                   Operations=["Decrypt"])
    [rec] = sim.audit_trail[before:]
    assert rec["resources"][0]["accountId"] == sim.account_id
    assert "sharedEventID" not in rec
    assert rec["responseElements"]["keyId"] == key


def test_retire_grant_record_names_the_grant_not_the_token(trail):
    _, recs = trail
    retire, grant = recs["RetireGrant"], recs["CreateGrant"]
    assert retire["requestParameters"] is None
    assert retire["additionalEventData"] == {"grantId": grant["responseElements"]["grantId"]}


def test_a_task_stopped_between_dry_runs_and_real_calls_makes_no_real_call(sim):
    make_cluster(sim, key=make_key(sim))
    ecs = sim.client("ecs")
    arn = ecs.run_task(cluster=CLUSTER, taskDefinition=register(sim), launchType="FARGATE",
                       networkConfiguration={"awsvpcConfiguration": {
                           "subnets": ["subnet-12345678"]}})["tasks"][0]["taskArn"]
    before = len(sim.audit_trail)
    sim.clock.advance(sim.ecs.timings.provisioning - DRY_RUN_LEAD_SECONDS + 0.5)
    ecs.stop_task(cluster=CLUSTER, task=arn)
    sim.fargate.settle()
    names = [r["eventName"] for r in sim.audit_trail[before:]
             if r["eventSource"] == "kms.amazonaws.com"]
    assert names == ["GenerateDataKeyWithoutPlaintext", "CreateGrant"]  # the dry runs only
    assert sim.fargate._preflighted == {}


def test_other_services_events_name_the_keys_account(sim):
    """Voice ID's records in the KMS guide: AWSService, sharedEventID, the key's account."""
    key = make_key(sim)
    before = len(sim.audit_trail)
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal="voiceid.amazonaws.com").generate_data_key(
            KeyId=key, KeySpec="AES_256")
    [rec] = sim.audit_trail[before:]
    assert rec["userIdentity"] == {"type": "AWSService", "invokedBy": "voiceid.amazonaws.com"}
    assert rec["resources"][0]["accountId"] == sim.account_id
    assert "sharedEventID" in rec
