"""One test per statement of the seed page (shared/seed/README.md, S1–S14).

S15 (the AWS CLI) and S16 (CloudFormation) are covered with the CLI and the templates.
"""

from __future__ import annotations

import json

import pytest

from simulator import errors
from simulator.iam.seed import seed_allow_approved_keys, seed_deny_without_key
from tests.ecs.helpers import (
    ACCOUNT,
    CLUSTER,
    CMK_START,
    NET,
    OPERATOR_NAME,
    allow,
    describe,
    kms_events,
    kms_names,
    make_cluster,
    make_key,
    make_role,
    register,
    register_windows,
    run,
)

MSC = "managedStorageConfiguration"
FES = "fargateEphemeralStorageKmsKeyId"
CONTEXT = {"aws:ecs:clusterAccount": ACCOUNT, "aws:ecs:clusterName": CLUSTER}


def attributes(task: dict) -> dict[str, str]:
    return {a["name"]: a["value"] for a in task["attributes"]}


@pytest.fixture
def cmk(sim):
    key = make_key(sim)
    make_cluster(sim, key=key)
    return key


def test_S1_windows_task_never_gets_cmk_storage(sim, cmk):
    win = register_windows(sim)
    before = len(sim.audit_trail)
    [task] = run(sim, win)
    assert task["lastStatus"] == "RUNNING" and task["platformVersion"] == "1.0.0"
    assert "kmsKeyId" not in task["fargateEphemeralStorage"]
    attrs = attributes(task)
    assert attrs["fargate-sim.ephemeral-storage.encryption"] != "CUSTOMER_MANAGED_KEY"
    assert "not available for Windows" in attrs["fargate-sim.ephemeral-storage.cmk-unavailable"]
    assert kms_names(sim, before) == []
    # The platform version of a Windows task cannot be moved to one with CMK support.
    with pytest.raises(errors.PlatformUnknownException):
        sim.client("ecs").run_task(cluster=CLUSTER, taskDefinition=win, launchType="FARGATE",
                                   networkConfiguration=NET, platformVersion="1.4.0")


def test_S2_platform_before_1_4_0_gets_no_cmk_and_latest_is_1_4_0(sim, cmk):
    td = register(sim)
    before = len(sim.audit_trail)
    [old] = run(sim, td, platformVersion="1.3.0")
    assert old["lastStatus"] == "RUNNING"
    assert "fargateEphemeralStorage" not in old
    assert "1.4.0" in attributes(old)["fargate-sim.ephemeral-storage.cmk-unavailable"]
    assert kms_names(sim, before) == []
    [latest] = run(sim, td, platformVersion="LATEST")
    assert latest["platformVersion"] == "1.4.0"
    assert latest["fargateEphemeralStorage"]["kmsKeyId"] == cmk
    assert kms_names(sim, before) == CMK_START


def test_S3_df_shows_the_reservation_differs_with_cmk_and_keeps_the_total(sim, cmk):
    td = register(sim)
    make_cluster(sim, "plain")
    [with_cmk] = run(sim, td)
    [without] = run(sim, td, cluster="plain")
    a = sim.fargate.df(with_cmk["taskArn"])
    b = sim.fargate.df(without["taskArn"])

    def overlay(storage, human):
        return next(ln.split() for ln in storage.df_lines(human) if ln.endswith(" /"))

    # df shows the space Fargate reserves: a 20 GiB task's overlay is 31G.
    assert overlay(a, True)[1] == overlay(b, True)[1] == "31G"
    assert a.device_bytes == b.device_bytes  # the total stays the same
    assert overlay(a, False)[1] != overlay(b, False)[1]  # the allocation differs
    meta_a = sim.fargate.task_metadata(with_cmk["taskArn"])["EphemeralStorageMetrics"]
    meta_b = sim.fargate.task_metadata(without["taskArn"])["EphemeralStorageMetrics"]
    assert meta_a["Reserved"] == meta_b["Reserved"] == 20496


def test_S4_fargate_gets_only_a_wrapped_data_key(sim, cmk):
    before = len(sim.audit_trail)
    [task] = run(sim, register(sim))
    recs = [r for r in sim.audit_trail[before:] if r["eventSource"] == "kms.amazonaws.com"]
    gen = [r for r in recs if r["eventName"] == "GenerateDataKeyWithoutPlaintext"]
    assert gen[0]["userIdentity"]["invokedBy"] == "fargate.amazonaws.com"
    assert all(r["eventName"] != "GenerateDataKey" for r in recs)
    # What KMS hands Fargate on that call is the wrapped key only.
    fargate = sim.client("kms", principal="fargate.amazonaws.com")
    out = fargate.generate_data_key_without_plaintext(
        KeyId=cmk, EncryptionContext=CONTEXT, NumberOfBytes=64)
    assert "Plaintext" not in out and out["CiphertextBlob"]
    # The seed's policy allows only the without-plaintext call to Fargate.
    with pytest.raises(errors.AccessDeniedException):
        fargate.generate_data_key(KeyId=cmk, EncryptionContext=CONTEXT, NumberOfBytes=64)
    assert task["lastStatus"] == "RUNNING"


def test_S5_grant_is_limited_to_decrypt_and_wider_grants_are_refused(sim, cmk):
    run(sim, register(sim))
    [grant] = sim.client("kms").list_grants(KeyId=cmk)["Grants"]
    assert grant["Operations"] == ["Decrypt"]
    fargate = sim.client("kms", principal="fargate.amazonaws.com")
    with pytest.raises(errors.AccessDeniedException):
        fargate.create_grant(KeyId=cmk, GranteePrincipal="fargate.us-west-2.amazonaws.com",
                             Operations=["Decrypt", "Encrypt"],
                             Constraints={"EncryptionContextSubset": CONTEXT})


def test_S6_decrypt_is_gated_by_the_grant_which_is_retired_on_stop(sim, cmk):
    before = len(sim.audit_trail)
    [task] = run(sim, register(sim))
    recs = [r for r in sim.audit_trail[before:] if r["eventSource"] == "kms.amazonaws.com"]
    gen, grant = recs[2], recs[3]
    full = gen["requestParameters"]["encryptionContext"]
    # The grantee has no key-policy statement: only the grant lets it decrypt.
    grantee = sim.client("kms", principal="fargate.us-west-2.amazonaws.com")
    blob = sim.client("kms", principal="fargate.amazonaws.com").generate_data_key_without_plaintext(
        KeyId=cmk, EncryptionContext=full, NumberOfBytes=64)["CiphertextBlob"]
    assert len(grantee.decrypt(CiphertextBlob=blob, EncryptionContext=full)["Plaintext"]) == 64
    sim.client("ecs").stop_task(cluster=CLUSTER, task=task["taskArn"])
    sim.fargate.settle()
    assert kms_names(sim, before)[-1] == "RetireGrant"
    assert sim.client("kms").list_grants(KeyId=cmk)["Grants"] == []
    with pytest.raises(errors.AccessDeniedException):
        grantee.decrypt(CiphertextBlob=blob, EncryptionContext=full)
    assert grant["requestParameters"]["retiringPrincipal"] == "ec2.us-west-2.amazonaws.com"


@pytest.mark.parametrize(
    ("setup", "words"),
    [("asymmetric", "asymmetric"), ("hmac", "HMAC"), ("disabled", "disabled"),
     ("pending", "pending deletion"), ("denied", "kms:DescribeKey"),
     ("multi-region", "multi-Region"), ("alias", "alias")],
)
def test_S7_create_and_update_cluster_check_the_key(sim, setup, words):
    kms = sim.client("kms")
    operator = make_role(sim, OPERATOR_NAME, allow("ecs:*"))
    if setup == "asymmetric":
        key = make_key(sim, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    elif setup == "hmac":
        key = make_key(sim, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    elif setup == "multi-region":
        # ManagedStorageConfiguration: "The key must be a single Region key."
        key = make_key(sim, MultiRegion=True)
    else:
        key = make_key(sim)
    if setup == "alias":
        # Aliases are not supported for this field (FACTS.md).
        kms.create_alias(AliasName="alias/fargate-storage", TargetKeyId=key)
        key = "alias/fargate-storage"
    if setup == "disabled":
        kms.disable_key(KeyId=key)
    if setup == "pending":
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    caller = operator
    if setup == "denied":
        caller = make_role(sim, "SomeoneElse", allow("ecs:*"))
    ecs = sim.client("ecs", principal=caller)
    configuration = {MSC: {FES: key}}
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.create_cluster(clusterName=CLUSTER, configuration=configuration)
    assert words in info.value.message and key in info.value.message
    assert ecs.list_clusters()["clusterArns"] == []  # nothing was created
    ecs.create_cluster(clusterName=CLUSTER)
    with pytest.raises(errors.InvalidParameterException, match=words):
        ecs.update_cluster(cluster=CLUSTER, configuration=configuration)
    described = ecs.describe_clusters(clusters=[CLUSTER], include=["CONFIGURATIONS"])
    assert "configuration" not in described["clusters"][0]  # the update changed nothing
    # A good key with the seed's DescribeKey statement passes for the operator role.
    good = make_key(sim)
    sim.client("ecs", principal=operator).update_cluster(
        cluster=CLUSTER, configuration={MSC: {FES: good}})


def test_S8_fargate_calls_carry_the_cluster_context_and_other_clusters_are_denied(sim, cmk):
    before = len(sim.audit_trail)
    run(sim, register(sim))
    recs = [r for r in sim.audit_trail[before:] if r["eventSource"] == "kms.amazonaws.com"]
    for rec in recs:
        p = rec["requestParameters"]
        ctx = p.get("encryptionContext") or p["constraints"]["encryptionContextSubset"]
        assert {k: ctx[k] for k in CONTEXT} == CONTEXT
    # The same key for a cluster of another name: the seed's conditions deny Fargate.
    make_cluster(sim, "staging", key=cmk)
    [other] = run(sim, register(sim), cluster="staging")
    assert other["stopCode"] == "TaskFailedToStart"
    assert "AccessDeniedException" in other["stoppedReason"]
    # And a key policy naming another account denies it too.
    policy = json.loads(sim.client("kms").get_key_policy(KeyId=cmk, PolicyName="default")[
        "Policy"].replace(ACCOUNT + '"]', '444455556666"]'))
    foreign = make_key(sim, Policy=json.dumps(policy))
    sim.client("ecs").update_cluster(cluster=CLUSTER, configuration={MSC: {FES: foreign}})
    [denied] = run(sim, register(sim))
    assert denied["stopCode"] == "TaskFailedToStart"


def test_S9_a_key_policy_that_locks_everyone_out_is_detected(sim):
    lockout = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "fargate.amazonaws.com"},
         "Action": "kms:GenerateDataKeyWithoutPlaintext", "Resource": "*"}]}
    with pytest.raises(errors.ClientError, match="update the key policy") as info:
        sim.client("kms").create_key(Policy=json.dumps(lockout))
    assert info.value.code == "MalformedPolicyDocumentException"
    out = sim.client("kms").create_key(Policy=json.dumps(lockout),
                                       BypassPolicyLockoutSafetyCheck=True)
    assert out["KeyMetadata"]["KeyState"] == "Enabled"


def test_S10_identity_policy_allow_list_on_the_condition_key(sim):
    approved, other = make_key(sim), make_key(sim)
    iam = sim.client("iam")
    role = make_role(sim, OPERATOR_NAME)
    iam.put_role_policy(RoleName=OPERATOR_NAME, PolicyName="approved",
                        PolicyDocument=json.dumps(seed_allow_approved_keys([approved])))
    ecs = sim.client("ecs", principal=role)
    ecs.create_cluster(clusterName=CLUSTER, configuration={MSC: {FES: approved}})
    with pytest.raises(errors.AccessDeniedException):
        ecs.create_cluster(clusterName="other", configuration={MSC: {FES: other}})
    with pytest.raises(errors.AccessDeniedException):
        ecs.update_cluster(cluster=CLUSTER, configuration={MSC: {FES: other}})
    rec = sim.audit_trail[-1]
    assert (rec["eventName"], rec["errorCode"]) == ("UpdateCluster", "AccessDeniedException")


def test_S11_deny_without_a_key(sim):
    key = make_key(sim)
    iam = sim.client("iam")
    role = make_role(sim, OPERATOR_NAME, allow("ecs:*"))
    iam.put_role_policy(RoleName=OPERATOR_NAME, PolicyName="deny-null",
                        PolicyDocument=json.dumps(seed_deny_without_key()))
    ecs = sim.client("ecs", principal=role)
    with pytest.raises(errors.AccessDeniedException, match="explicit deny"):
        ecs.create_cluster(clusterName=CLUSTER)
    ecs.create_cluster(clusterName=CLUSTER, configuration={MSC: {FES: key}})
    with pytest.raises(errors.AccessDeniedException):
        ecs.update_cluster(cluster=CLUSTER, configuration={MSC: {}})
    with pytest.raises(errors.AccessDeniedException):
        ecs.update_cluster(cluster=CLUSTER, settings=[{"name": "containerInsights",
                                                       "value": "enabled"}])
    out = sim.client("ecs").describe_clusters(clusters=[CLUSTER], include=["CONFIGURATIONS"])
    assert out["clusters"][0]["configuration"][MSC][FES] == key


def test_S12_key_updates_reach_only_new_deployments(sim):
    k1, k2 = make_key(sim), make_key(sim)
    make_cluster(sim, key=k1)
    td = register(sim)
    ecs = sim.client("ecs")
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=td, desiredCount=2,
                       launchType="FARGATE", networkConfiguration=NET)
    sim.fargate.settle()
    ecs.update_cluster(cluster=CLUSTER, configuration={MSC: {FES: k2}})
    # A replacement task of the existing deployment keeps the old key.
    victim = ecs.list_tasks(cluster=CLUSTER, serviceName="web")["taskArns"][0]
    ecs.stop_task(cluster=CLUSTER, task=victim)
    ecs.update_service(cluster=CLUSTER, service="web", desiredCount=3)
    sim.fargate.settle()
    svc = ecs.describe_services(cluster=CLUSTER, services=["web"])["services"][0]
    [dep] = svc["deployments"]
    assert dep["fargateEphemeralStorage"] == {"kmsKeyId": k1}
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName="web")["taskArns"]
    assert len(arns) == 3
    assert {t["fargateEphemeralStorage"]["kmsKeyId"] for t in describe(sim, arns)} == {k1}
    # A new deployment takes the new key, and so do its tasks.
    ecs.update_service(cluster=CLUSTER, service="web", forceNewDeployment=True)
    mid = ecs.describe_services(cluster=CLUSTER, services=["web"])["services"][0]
    assert [d["fargateEphemeralStorage"]["kmsKeyId"] for d in mid["deployments"]] == [k2, k1]
    sim.fargate.settle()
    [dep] = ecs.describe_services(cluster=CLUSTER, services=["web"])["services"][0][
        "deployments"]
    assert dep["fargateEphemeralStorage"] == {"kmsKeyId": k2}
    arns = ecs.list_tasks(cluster=CLUSTER, serviceName="web")["taskArns"]
    assert {t["fargateEphemeralStorage"]["kmsKeyId"] for t in describe(sim, arns)} == {k2}


def test_S13_describe_calls_show_the_key(sim, cmk):
    td = register(sim)
    ecs = sim.client("ecs")
    [task] = run(sim, td)
    assert task["fargateEphemeralStorage"] == {"sizeInGiB": 20, "kmsKeyId": cmk}
    cluster = ecs.describe_clusters(clusters=[CLUSTER], include=["CONFIGURATIONS"])
    assert cluster["clusters"][0]["configuration"][MSC][FES] == cmk
    ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=td, desiredCount=1,
                       launchType="FARGATE", networkConfiguration=NET)
    svc = ecs.describe_services(cluster=CLUSTER, services=["web"])["services"][0]
    assert svc["deployments"][0]["fargateEphemeralStorage"] == {"kmsKeyId": cmk}


def test_S14_managed_storage_configuration_has_both_keys(sim):
    managed, fargate = make_key(sim), make_key(sim)
    out = make_cluster(sim, configuration={MSC: {"kmsKeyId": managed, FES: fargate}})
    assert out["configuration"][MSC] == {"kmsKeyId": managed, FES: fargate}
    [task] = run(sim, register(sim))
    assert task["fargateEphemeralStorage"]["kmsKeyId"] == fargate
    assert ("Decrypt", "fargate.us-west-2.amazonaws.com", None) in kms_events(sim)
