"""The Fargate agent: the KMS call sequence, grants, volumes, failures, df and metadata."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from simulator import Simulation
from simulator.crypt import EncryptedVolume
from simulator.fargate.agent import DATA_KEY_BYTES
from tests.ecs.helpers import (
    ACCOUNT,
    CLUSTER,
    CMK_START,
    describe,
    kms_events,
    kms_names,
    make_cluster,
    make_key,
    register,
    register_windows,
    run,
)

CONTEXT = {"aws:ecs:clusterAccount": ACCOUNT, "aws:ecs:clusterName": CLUSTER}


@pytest.fixture
def cmk(sim):
    """A key with the seed's policy for the cluster, the cluster, a task definition."""
    key = make_key(sim)
    make_cluster(sim, key=key)
    return key, register(sim)


def kms_records(sim, since=0):
    return [r for r in sim.audit_trail[since:] if r["eventSource"] == "kms.amazonaws.com"]


def stop(sim, arn):
    sim.client("ecs").stop_task(cluster=CLUSTER, task=arn)
    sim.fargate.settle()


def test_the_cmk_sequence_is_the_one_cloudtrail_shows(sim, cmk):
    key, td = cmk
    before = len(sim.audit_trail)
    [task] = run(sim, td)
    assert task["lastStatus"] == "RUNNING"
    recs = kms_records(sim, before)
    assert [r["eventName"] for r in recs] == CMK_START
    gen_dry, grant_dry, gen, grant, dec = recs
    assert all(r["userIdentity"]["type"] == "AWSService" for r in recs)
    assert all(r["recipientAccountId"] == ACCOUNT for r in recs)
    # 1. the dry run of GenerateDataKeyWithoutPlaintext
    assert gen_dry["errorCode"] == "DryRunOperationException"
    assert gen_dry["userIdentity"]["invokedBy"] == "fargate.amazonaws.com"
    assert gen_dry["requestParameters"] == {
        "keyId": key, "encryptionContext": CONTEXT, "numberOfBytes": 64, "dryRun": True}
    # 2. the dry run of CreateGrant
    assert grant_dry["errorCode"] == "DryRunOperationException"
    p = grant_dry["requestParameters"]
    assert p["granteePrincipal"] == "fargate.us-west-2.amazonaws.com"
    assert p["operations"] == ["Decrypt"] and p["dryRun"] is True
    assert p["constraints"] == {"encryptionContextSubset": CONTEXT}
    # 3. the real GenerateDataKeyWithoutPlaintext, with the volume id in the context
    assert "errorCode" not in gen
    ctx = dict(gen["requestParameters"]["encryptionContext"])
    assert re.fullmatch(r"vol-[0-9a-f]{17}", ctx.pop("aws:ebs:id"))
    assert ctx == CONTEXT and gen["requestParameters"]["numberOfBytes"] == 64
    # 4. the real CreateGrant, retirable by EC2
    p = grant["requestParameters"]
    assert p["retiringPrincipal"] == "ec2.us-west-2.amazonaws.com"
    assert p["constraints"]["encryptionContextSubset"]["aws:ebs:id"] == (
        gen["requestParameters"]["encryptionContext"]["aws:ebs:id"])
    # 5. Decrypt through the grant, as the grantee
    assert dec["userIdentity"]["invokedBy"] == "fargate.us-west-2.amazonaws.com"
    assert dec["requestParameters"]["encryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert "grantTokens" not in dec["requestParameters"]  # bearer credentials stay out
    assert "plaintext" not in {k.lower() for k in dec["responseElements"] or {}}


def test_the_real_data_key_call_is_invoked_by_ec2_frontend_api(sim, cmk):
    _, td = cmk
    before = len(sim.audit_trail)
    run(sim, td)
    gen = [r for r in kms_records(sim, before)
           if r["eventName"] == "GenerateDataKeyWithoutPlaintext"]
    assert gen[0]["userIdentity"]["invokedBy"] == "fargate.amazonaws.com"
    assert gen[1]["userIdentity"]["invokedBy"] == "ec2-frontend-api.amazonaws.com"


def test_stop_retires_the_grant(sim, cmk):
    key, td = cmk
    [task] = run(sim, td)
    kms = sim.client("kms")
    [grant] = kms.list_grants(KeyId=key)["Grants"]
    assert grant["GranteePrincipal"] == "fargate.us-west-2.amazonaws.com"
    assert grant["RetiringPrincipal"] == "ec2.us-west-2.amazonaws.com"
    assert grant["Operations"] == ["Decrypt"]
    before = len(sim.audit_trail)
    stop(sim, task["taskArn"])
    [retire] = kms_records(sim, before)
    assert retire["eventName"] == "RetireGrant" and "errorCode" not in retire
    assert retire["userIdentity"]["invokedBy"] == "AWS Internal"
    assert kms.list_grants(KeyId=key)["Grants"] == []
    with pytest.raises(KeyError, match="no ephemeral storage"):
        sim.fargate.volume(task["taskArn"])


def test_one_grant_per_running_task(sim, cmk):
    key, td = cmk
    tasks = run(sim, td, count=5)
    assert len(sim.client("kms").list_grants(KeyId=key)["Grants"]) == 5
    stop(sim, tasks[0]["taskArn"])
    assert len(sim.client("kms").list_grants(KeyId=key)["Grants"]) == 4


def test_volume_is_aes_xts_with_a_512_bit_key_and_the_task_size(sim, cmk):
    _, td = cmk
    [task] = run(sim, td, overrides={"ephemeralStorage": {"sizeInGiB": 50}})
    vol = sim.fargate.volume(task["taskArn"])
    assert isinstance(vol, EncryptedVolume)
    assert (vol.spec.name, vol.spec.key_bits) == ("aes-xts-plain64", DATA_KEY_BYTES * 8)
    assert vol.sector_size == 4096
    assert vol.size >= 50 << 30
    data = b"secret payload " * 1000
    vol.write(8192, data)
    assert vol.read(8192, len(data)) == data
    ciphertext, _ = vol.raw(2, 4)
    assert data[:4096] not in ciphertext
    assert sim.fargate.storage_record(task["taskArn"]).encryption == "CUSTOMER_MANAGED_KEY"


def test_two_tasks_get_different_data_keys(sim, cmk):
    _, td = cmk
    a, b = run(sim, td, count=2)
    va, vb = sim.fargate.volume(a["taskArn"]), sim.fargate.volume(b["taskArn"])
    va.write(0, bytes(4096))
    vb.write(0, bytes(4096))
    assert va.raw(0, 1)[0] != vb.raw(0, 1)[0]


def test_df_and_task_metadata_follow_writes(sim, cmk):
    _, td = cmk
    [task] = run(sim, td)
    arn = task["taskArn"]
    meta = sim.fargate.task_metadata(arn)
    assert meta["TaskARN"] == arn and meta["KnownStatus"] == "RUNNING"
    used = meta["EphemeralStorageMetrics"]["Utilized"]
    assert meta["EphemeralStorageMetrics"]["Reserved"] > 0
    sim.fargate.volume(arn).write(0, b"\x01" * (64 << 20))
    assert sim.fargate.task_metadata(arn)["EphemeralStorageMetrics"]["Utilized"] >= used + 64
    lines = sim.fargate.df(arn).df_lines()
    assert lines and any("overlay" in line for line in lines)


def test_no_cluster_key_means_no_kms_call(sim):
    make_cluster(sim)
    td = register(sim)
    before = len(sim.audit_trail)
    [task] = run(sim, td)
    assert task["lastStatus"] == "RUNNING"
    assert "kmsKeyId" not in task["fargateEphemeralStorage"]
    assert {"name": "fargate-sim.ephemeral-storage.encryption", "value": "AWS_OWNED_KEY"} in task[
        "attributes"]
    vol = sim.fargate.volume(task["taskArn"])
    assert (vol.spec.name, vol.spec.key_bits) == ("aes-xts-plain64", 512)
    stop(sim, task["taskArn"])
    assert kms_names(sim, before) == []


@pytest.mark.parametrize(("version", "when"), [
    ("1.0.0", datetime(2020, 6, 1, tzinfo=UTC)),  # before its retirement on 2020-12-14
    ("1.3.0", None),
])
def test_old_platforms_never_touch_the_key(version, when):
    sim = Simulation(account_id=ACCOUNT, strict_shapes=True, start_time=when)
    make_cluster(sim, key=make_key(sim))
    td = register(sim)
    before = len(sim.audit_trail)
    [task] = run(sim, td, platformVersion=version)
    assert task["lastStatus"] == "RUNNING"
    assert "fargateEphemeralStorage" not in task
    attrs = {a["name"]: a["value"] for a in task["attributes"]}
    assert "1.4.0" in attrs["fargate-sim.ephemeral-storage.cmk-unavailable"]
    assert sim.fargate.volume(task["taskArn"]).spec.name == "null"
    stop(sim, task["taskArn"])
    assert kms_names(sim, before) == []


def test_windows_never_touches_the_key(sim, cmk):
    key, _ = cmk
    win = register_windows(sim)
    before = len(sim.audit_trail)
    [task] = run(sim, win)
    assert task["lastStatus"] == "RUNNING"
    assert task["fargateEphemeralStorage"] == {"sizeInGiB": 20}
    attrs = {a["name"]: a["value"] for a in task["attributes"]}
    assert attrs["fargate-sim.ephemeral-storage.encryption"] == "AWS_OWNED_KEY"
    assert "Windows" in attrs["fargate-sim.ephemeral-storage.cmk-unavailable"]
    assert key in attrs["fargate-sim.ephemeral-storage.cmk-unavailable"]
    stop(sim, task["taskArn"])
    assert kms_names(sim, before) == []


def test_key_policy_without_fargate_fails_the_task_with_a_usable_reason(sim):
    key = sim.client("kms").create_key()["KeyMetadata"]["Arn"]  # AWS's default policy
    make_cluster(sim, key=key)
    td = register(sim)
    before = len(sim.audit_trail)
    [task] = run(sim, td)
    assert (task["lastStatus"], task["stopCode"]) == ("STOPPED", "TaskFailedToStart")
    reason = task["stoppedReason"]
    assert key in reason
    assert "kms:GenerateDataKeyWithoutPlaintext" in reason
    assert "AccessDeniedException" in reason
    assert "startedAt" not in task
    assert task["containers"][0]["lastStatus"] == "STOPPED"
    assert kms_events(sim, before) == [
        ("GenerateDataKeyWithoutPlaintext", "fargate.amazonaws.com", "AccessDeniedException")]
    assert sim.fargate.tasks() == []


def test_missing_create_grant_permission_names_create_grant(sim):
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"Service": "fargate.amazonaws.com"},
         "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*"}]}
    key = make_key(sim, Policy=json.dumps(policy))
    make_cluster(sim, key=key)
    [task] = run(sim, register(sim))
    assert task["stopCode"] == "TaskFailedToStart"
    assert "kms:CreateGrant failed with AccessDeniedException" in task["stoppedReason"]


def test_decrypt_failure_retires_the_grant_it_made(sim, cmk):
    key, td = cmk
    kms_service = sim.service("kms")
    kms_service.quotas.set("CryptographicOperationsSymmetric", 0.001, 2)
    before = len(sim.audit_trail)
    [task] = run(sim, td)
    names = kms_names(sim, before)
    assert task["stopCode"] == "TaskFailedToStart"
    assert "kms:Decrypt failed with ThrottlingException" in task["stoppedReason"]
    assert names[-2:] == ["Decrypt", "RetireGrant"]
    assert sim.client("kms").list_grants(KeyId=key)["Grants"] == []


def test_disabling_the_key_spares_running_tasks_and_fails_new_ones(sim, cmk):
    key, td = cmk
    [running] = run(sim, td)
    vol = sim.fargate.volume(running["taskArn"])
    vol.write(0, b"kept")
    sim.client("kms").disable_key(KeyId=key)
    sim.clock.advance(600)
    assert describe(sim, [running["taskArn"]])[0]["lastStatus"] == "RUNNING"
    assert vol.read(0, 4) == b"kept"
    [new] = run(sim, td)
    assert new["stopCode"] == "TaskFailedToStart"
    assert "DisabledException" in new["stoppedReason"] and key in new["stoppedReason"]


def test_key_pending_deletion_fails_new_tasks(sim, cmk):
    key, td = cmk
    [running] = run(sim, td)
    sim.client("kms").schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    [new] = run(sim, td)
    assert new["stopCode"] == "TaskFailedToStart"
    assert "KMSInvalidStateException" in new["stoppedReason"]
    assert describe(sim, [running["taskArn"]])[0]["lastStatus"] == "RUNNING"


def test_policy_for_another_cluster_denies_fargate(sim):
    key = make_key(sim, cluster="someone-else")
    make_cluster(sim, key=key)
    [task] = run(sim, register(sim))
    assert task["stopCode"] == "TaskFailedToStart"
    assert "AccessDeniedException" in task["stoppedReason"]


def test_task_metadata_and_volume_of_unknown_tasks(sim):
    with pytest.raises(KeyError, match="no task"):
        sim.fargate.volume("arn:aws:ecs:us-west-2:111122223333:task/prod/" + "0" * 32)


def test_settle_returns_the_clock_and_is_idempotent(sim, cmk):
    _, td = cmk
    run(sim, td, settle=False)
    first = sim.fargate.settle()
    assert sim.fargate.settle() == first == sim.clock.now()


def test_agent_is_a_per_simulation_singleton():
    a, b = Simulation(), Simulation()
    assert a.fargate is a.fargate and a.fargate is not b.fargate


def test_secrets_stay_out_of_reprs_and_the_trail(sim, cmk):
    _, td = cmk
    [task] = run(sim, td)
    record = sim.fargate.storage_record(task["taskArn"])
    assert "grant_token" not in repr(record)
    for rec in sim.audit_trail:
        for part in ("requestParameters", "responseElements"):
            assert "plaintext" not in {k.lower() for k in (rec.get(part) or {})}
