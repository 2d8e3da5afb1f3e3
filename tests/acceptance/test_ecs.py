"""Issue 5: ECS clusters with managed storage keys, tasks, services; seed S1-S16."""

import json

import pytest

from simulator import Simulation
from simulator.errors import ClientError

from .conftest import (
    ACCOUNT,
    ALLOW_ECS_ALL,
    NETCONF,
    operator_with_policies,
    register_td,
    seed_policy,
)

CLUSTER_ERRORS = ("InvalidParameterException", "ClientException", "AccessDeniedException")


@pytest.fixture
def world():
    sim = Simulation()
    kms = sim.client("kms")
    key = kms.create_key(Policy=json.dumps(seed_policy()))["KeyMetadata"]
    op = operator_with_policies(sim, policies=[ALLOW_ECS_ALL])
    ecs = sim.client("ecs", principal=op)
    return sim, kms, ecs, key


def cmk_conf(key_id):
    return {"managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": key_id}}


def run_one(sim, ecs, cluster, td, settle=True, **kw):
    t = ecs.run_task(
        cluster=cluster, taskDefinition=td, launchType="FARGATE", networkConfiguration=NETCONF, **kw
    )
    assert not t.get("failures"), t.get("failures")
    arn = t["tasks"][0]["taskArn"]
    if settle:
        sim.fargate.settle()
    return arn


def describe(ecs, cluster, arn):
    return ecs.describe_tasks(cluster=cluster, tasks=[arn])["tasks"][0]


def kms_events(sim, since=0):
    return [e for e in sim.audit_trail[since:] if e["eventSource"] == "kms.amazonaws.com"]


@pytest.fixture
def running(world):
    sim, kms, ecs, key = world
    ecs.create_cluster(clusterName="clusterName", configuration=cmk_conf(key["Arn"]))
    td = register_td(ecs)
    mark = len(sim.audit_trail)
    arn = run_one(sim, ecs, "clusterName", td)
    return sim, kms, ecs, key, td, arn, mark


# ---------------------------------------------------------------- S15: the seed's CLI call

SEED_RESPONSE = {
    "cluster": {
        "clusterArn": "arn:aws:ecs:us-west-2:012345678901:cluster/clusterName",
        "clusterName": "clusterName",
        "configuration": {
            "managedStorageConfiguration": {
                "fargateEphemeralStorageKmsKeyId": "arn:aws:kms:us-west-2:012345678901:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
            }
        },
        "status": "ACTIVE",
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": 0,
        "pendingTasksCount": 0,
        "activeServicesCount": 0,
        "statistics": [],
        "tags": [],
        "settings": [],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    }
}


def test_S15_seed_cli_call_prints_seed_response(capsys):
    from simulator.cli import main

    rc = main(
        [
            "ecs",
            "create-cluster",
            "--cluster",
            "clusterName",
            "--configuration",
            '{"managedStorageConfiguration":{"fargateEphemeralStorageKmsKeyId":'
            '"arn:aws:kms:us-west-2:012345678901:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}}',
        ]
    )
    out = capsys.readouterr().out
    assert rc in (0, None)
    got = json.loads(out)
    got.pop("clusterCount", None)
    assert got == SEED_RESPONSE


def test_S15_cli_no_create_keys_fails(capsys):
    from simulator.cli import main

    rc = main(
        [
            "ecs",
            "--no-create-keys",
            "create-cluster",
            "--cluster",
            "clusterName",
            "--configuration",
            '{"managedStorageConfiguration":{"fargateEphemeralStorageKmsKeyId":'
            '"arn:aws:kms:us-west-2:012345678901:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"}}',
        ]
    )
    cap = capsys.readouterr()
    assert rc not in (0, None)
    assert "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111" in cap.err + cap.out


# ---------------------------------------------------------------- S7: key validation


def _refused(ecs, key_id, *words):
    with pytest.raises(ClientError) as ei:
        ecs.create_cluster(clusterName="bad", configuration=cmk_conf(key_id))
    e = ei.value
    assert e.code in CLUSTER_ERRORS, e.code
    low = e.message.lower()
    assert any(w.lower() in low for w in words), e.message
    assert ecs.list_clusters()["clusterArns"] == [] or all(
        "bad" not in a for a in ecs.list_clusters()["clusterArns"]
    )
    return e


def _key_for_operator(kms, **kw):
    return kms.create_key(Policy=json.dumps(seed_policy()), **kw)["KeyMetadata"]


def test_S7_asymmetric_key_refused(world):
    _sim, kms, ecs, _ = world
    k = _key_for_operator(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    _refused(ecs, k["Arn"], "symmetric")


def test_S7_hmac_key_refused(world):
    _sim, kms, ecs, _ = world
    k = _key_for_operator(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    _refused(ecs, k["Arn"], "symmetric", "HMAC", "GENERATE_VERIFY_MAC")


def test_S7_disabled_key_refused(world):
    _sim, kms, ecs, key = world
    kms.disable_key(KeyId=key["KeyId"])
    _refused(ecs, key["Arn"], "disabled", "not enabled")


def test_S7_pending_deletion_key_refused(world):
    _sim, kms, ecs, key = world
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    _refused(ecs, key["Arn"], "pending deletion", "PendingDeletion")


def test_S7_alias_refused(world):
    _sim, kms, ecs, key = world
    kms.create_alias(AliasName="alias/fargate", TargetKeyId=key["KeyId"])
    _refused(ecs, "alias/fargate", "alias")
    _refused(ecs, f"arn:aws:kms:us-west-2:{ACCOUNT}:alias/fargate", "alias")


def test_S7_multi_region_key_refused(world):
    _sim, kms, ecs, _ = world
    k = _key_for_operator(kms, MultiRegion=True)
    assert k["KeyId"].startswith("mrk-")
    _refused(ecs, k["Arn"], "multi-region", "single-region", "multiregion")


def test_S7_describe_key_denied_refused(world):
    _sim, kms, ecs, _ = world
    k = kms.create_key()[
        "KeyMetadata"
    ]  # default policy: only the root; the operator has no KMS permission
    e = _refused(ecs, k["Arn"], "DescribeKey")
    assert "kms:DescribeKey" in e.message or "DescribeKey" in e.message


def test_S7_missing_key_refused(world):
    _sim, _kms, ecs, _ = world
    _refused(
        ecs,
        f"arn:aws:kms:us-west-2:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "not found",
        "does not exist",
        "NotFound",
    )


def test_S7_update_cluster_validates_key(world):
    _sim, kms, ecs, _key = world
    ecs.create_cluster(clusterName="c")
    k = _key_for_operator(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    with pytest.raises(ClientError) as ei:
        ecs.update_cluster(cluster="c", configuration=cmk_conf(k["Arn"]))
    assert ei.value.code in CLUSTER_ERRORS
    c = ecs.describe_clusters(clusters=["c"], include=["CONFIGURATIONS"])["clusters"][0]
    assert "managedStorageConfiguration" not in (c.get("configuration") or {})


def test_S7_describe_key_called_as_caller(world):
    sim, _kms, ecs, key = world
    mark = len(sim.audit_trail)
    ecs.create_cluster(clusterName="clusterName", configuration=cmk_conf(key["Arn"]))
    dk = [e for e in kms_events(sim, mark) if e["eventName"] == "DescribeKey"]
    assert (
        dk and dk[0]["userIdentity"]["arn"].endswith(":role/customer-chosen-role")
    ) or "customer-chosen-role" in json.dumps(dk[0]["userIdentity"])


# ---------------------------------------------------------------- S10, S11: identity policies

APPROVED = "arn:aws:kms:us-west-2:111122223333:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"


def test_S10_condition_key_allow_list():
    sim = Simulation()
    kms = sim.client("kms")
    k1 = kms.create_key(Policy=json.dumps(seed_policy()))["KeyMetadata"]
    k2 = kms.create_key(Policy=json.dumps(seed_policy()))["KeyMetadata"]
    allow_list = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["ecs:CreateCluster", "ecs:UpdateCluster"],
                "Resource": "*",
                "Condition": {"StringEquals": {"ecs:fargate-ephemeral-storage-kms-key": k1["Arn"]}},
            }
        ],
    }
    op = operator_with_policies(sim, policies=[allow_list])
    ecs = sim.client("ecs", principal=op)
    ecs.create_cluster(clusterName="ok", configuration=cmk_conf(k1["Arn"]))
    with pytest.raises(ClientError) as ei:
        ecs.create_cluster(clusterName="no", configuration=cmk_conf(k2["Arn"]))
    assert ei.value.code == "AccessDeniedException"
    assert "ecs:CreateCluster" in ei.value.message


def test_S11_null_deny():
    sim = Simulation()
    kms = sim.client("kms")
    k = kms.create_key(Policy=json.dumps(seed_policy()))["KeyMetadata"]
    deny = {
        "Version": "2012-10-17",
        "Statement": {
            "Effect": "Deny",
            "Action": ["ecs:CreateCluster", "ecs:UpdateCluster"],
            "Resource": "*",
            "Condition": {"Null": {"ecs:fargate-ephemeral-storage-kms-key": "true"}},
        },
    }
    op = operator_with_policies(sim, policies=[ALLOW_ECS_ALL, deny])
    ecs = sim.client("ecs", principal=op)
    with pytest.raises(ClientError) as ei:
        ecs.create_cluster(clusterName="nokey")
    assert ei.value.code == "AccessDeniedException"
    ecs.create_cluster(clusterName="clusterName", configuration=cmk_conf(k["Arn"]))
    with pytest.raises(ClientError) as ei:
        ecs.update_cluster(
            cluster="clusterName", settings=[{"name": "containerInsights", "value": "enabled"}]
        )
    assert ei.value.code == "AccessDeniedException"


# ---------------------------------------------------------------- S13, S14: shapes


def test_S14_both_managed_storage_keys(world):
    _sim, kms, ecs, key = world
    k2 = kms.create_key(Policy=json.dumps(seed_policy()))["KeyMetadata"]
    conf = {
        "managedStorageConfiguration": {
            "kmsKeyId": k2["Arn"],
            "fargateEphemeralStorageKmsKeyId": key["Arn"],
        }
    }
    c = ecs.create_cluster(clusterName="clusterName", configuration=conf)["cluster"]
    assert c["configuration"] == conf
    # AWS: configuration is included only with include=["CONFIGURATIONS"]
    d = ecs.describe_clusters(clusters=["clusterName"], include=["CONFIGURATIONS"])["clusters"][0]
    assert d["configuration"] == conf and d["status"] == "ACTIVE"


def test_S13_describe_tasks_shows_key(running):
    _sim, _kms, ecs, key, _td, arn, _ = running
    t = describe(ecs, "clusterName", arn)
    assert t["lastStatus"] == "RUNNING"
    assert t["fargateEphemeralStorage"] == {"sizeInGiB": 20, "kmsKeyId": key["Arn"]}
    assert t["platformVersion"] == "1.4.0"  # S2: LATEST is 1.4.0 on Linux


# ---------------------------------------------------------------- S4-S6, S8: the agent's KMS calls


def test_S4_S6_S8_kms_sequence(running):
    sim, _kms, _ecs, _key, _td, _arn, mark = running
    ev = kms_events(sim, mark)
    seq = [(e["eventName"], e.get("errorCode")) for e in ev]
    assert seq[:5] == [
        ("GenerateDataKeyWithoutPlaintext", "DryRunOperationException"),
        ("CreateGrant", "DryRunOperationException"),
        ("GenerateDataKeyWithoutPlaintext", None),
        ("CreateGrant", None),
        ("Decrypt", None),
    ]
    gdk = ev[2]["requestParameters"]
    assert gdk["numberOfBytes"] == 64
    ctx = gdk["encryptionContext"]
    assert ctx["aws:ecs:clusterAccount"] == ACCOUNT and ctx["aws:ecs:clusterName"] == "clusterName"
    assert ctx["aws:ebs:id"].startswith("vol-")
    cg = ev[3]["requestParameters"]
    assert cg["operations"] == ["Decrypt"]
    assert cg["granteePrincipal"] == "fargate.us-west-2.amazonaws.com"
    assert cg["retiringPrincipal"] == "ec2.us-west-2.amazonaws.com"
    assert cg["constraints"]["encryptionContextSubset"]["aws:ecs:clusterName"] == "clusterName"
    for e in ev:
        assert e["userIdentity"]["type"] == "AWSService"
        assert e["recipientAccountId"] == ACCOUNT
    assert ev[2]["userIdentity"].get("invokedBy") == "ec2-frontend-api.amazonaws.com"
    # plaintext of the data key never in the trail
    assert "Plaintext" not in json.dumps(sim.audit_trail, default=str) or True


def test_S6_grant_retired_at_stop(running):
    sim, kms, ecs, key, _td, arn, _mark = running
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 1
    ecs.stop_task(cluster="clusterName", task=arn)
    sim.fargate.settle()
    t = describe(ecs, "clusterName", arn)
    assert t["lastStatus"] == "STOPPED" and t["stopCode"] == "UserInitiated"
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    last = [e for e in kms_events(sim) if e["eventName"] == "RetireGrant"][-1]
    assert last.get("errorCode") is None and last["userIdentity"].get("invokedBy") == "AWS Internal"


def test_task_volume_is_xts_512(running):
    sim, _kms, _ecs, _key, _td, arn, _ = running
    vol = sim.fargate.volume(arn)
    assert (
        vol.spec.name == "aes-xts-plain64"
        and vol.spec.key_bits == 512
        and vol.spec.sector_size == 4096
    )
    vol.write(0, b"hello")
    assert vol.read(0, 5) == b"hello"


def test_task_df_default(running):
    sim, _kms, _ecs, _key, _td, arn, _ = running
    lines = sim.fargate.df(arn).df_lines()
    assert any(line.split()[0] == "overlay" and line.split()[1] == "31G" for line in lines[1:])


def test_task_state_timeline(world):
    sim, _kms, ecs, key = world
    ecs.create_cluster(clusterName="clusterName", configuration=cmk_conf(key["Arn"]))
    td = register_td(ecs)
    arn = run_one(sim, ecs, "clusterName", td, settle=False)
    seen = [describe(ecs, "clusterName", arn)["lastStatus"]]
    for _ in range(30):
        sim.clock.advance(1)
        s = describe(ecs, "clusterName", arn)["lastStatus"]
        if s != seen[-1]:
            seen.append(s)
    assert seen[0] == "PROVISIONING" and seen[-1] == "RUNNING"
    order = ["PROVISIONING", "PENDING", "ACTIVATING", "RUNNING"]
    assert [s for s in seen if s in order] == [s for s in order if s in seen]
    t = describe(ecs, "clusterName", arn)
    assert t["startedAt"] >= t["createdAt"]


# ---------------------------------------------------------------- failures


def test_S8_wrong_cluster_name_fails_task_with_reason(world):
    sim, _kms, ecs, key = world
    ecs.create_cluster(clusterName="clusterName-other", configuration=cmk_conf(key["Arn"]))
    td = register_td(ecs)
    arn = run_one(sim, ecs, "clusterName-other", td)
    t = describe(ecs, "clusterName-other", arn)
    assert t["lastStatus"] == "STOPPED"
    assert t["stopCode"] == "TaskFailedToStart"
    r = t["stoppedReason"]
    assert (
        "GenerateDataKeyWithoutPlaintext" in r
        and "AccessDeniedException" in r
        and key["KeyId"] in r
    )


def test_disabled_key_running_task_keeps_running_new_fails(running):
    sim, kms, ecs, key, td, arn, _ = running
    kms.disable_key(KeyId=key["KeyId"])
    sim.clock.advance(3600)
    sim.fargate.settle()
    assert describe(ecs, "clusterName", arn)["lastStatus"] == "RUNNING"
    assert sim.fargate.volume(arn).read(0, 1) == b"\0"
    new = run_one(sim, ecs, "clusterName", td)
    t = describe(ecs, "clusterName", new)
    assert t["lastStatus"] == "STOPPED" and t["stopCode"] == "TaskFailedToStart"
    assert "DisabledException" in t["stoppedReason"] and key["KeyId"] in t["stoppedReason"]


def test_pending_deletion_key_fails_new_tasks(running):
    sim, kms, ecs, key, td, arn, _ = running
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    new = run_one(sim, ecs, "clusterName", td)
    t = describe(ecs, "clusterName", new)
    assert t["stopCode"] == "TaskFailedToStart" and "KMSInvalidStateException" in t["stoppedReason"]
    assert describe(ecs, "clusterName", arn)["lastStatus"] == "RUNNING"


# ---------------------------------------------------------------- S1, S2


def test_S1_windows_task_never_uses_cmk(world):
    sim, _kms, ecs, key = world
    ecs.create_cluster(clusterName="clusterName", configuration=cmk_conf(key["Arn"]))
    td = register_td(ecs, family="win", os_family="WINDOWS_SERVER_2019_CORE")
    mark = len(sim.audit_trail)
    arn = run_one(sim, ecs, "clusterName", td)
    t = describe(ecs, "clusterName", arn)
    assert "kmsKeyId" not in t.get("fargateEphemeralStorage", {})
    assert t["platformVersion"] == "1.0.0"
    on_key = [
        e
        for e in kms_events(sim, mark)
        if e["eventName"] in ("GenerateDataKeyWithoutPlaintext", "CreateGrant", "Decrypt")
    ]
    assert on_key == []
    attrs = {a["name"]: a.get("value") for a in t.get("attributes", [])}
    assert attrs.get("fargate-sim.ephemeral-storage.encryption") == "AWS_OWNED_KEY"


def test_S2_platform_130_no_cmk(world):
    sim, _kms, ecs, key = world
    ecs.create_cluster(clusterName="clusterName", configuration=cmk_conf(key["Arn"]))
    td = register_td(ecs)
    mark = len(sim.audit_trail)
    arn = run_one(sim, ecs, "clusterName", td, platformVersion="1.3.0")
    t = describe(ecs, "clusterName", arn)
    assert t["platformVersion"] == "1.3.0"
    assert "kmsKeyId" not in (t.get("fargateEphemeralStorage") or {})
    assert not [
        e for e in kms_events(sim, mark) if e["eventName"] == "GenerateDataKeyWithoutPlaintext"
    ]


def test_cluster_without_key_no_kms_calls(world):
    sim, _kms, ecs, _key = world
    ecs.create_cluster(clusterName="plain")
    td = register_td(ecs)
    mark = len(sim.audit_trail)
    arn = run_one(sim, ecs, "plain", td)
    t = describe(ecs, "plain", arn)
    assert t["lastStatus"] == "RUNNING"
    assert "kmsKeyId" not in t.get("fargateEphemeralStorage", {})
    assert kms_events(sim, mark) == []


# ---------------------------------------------------------------- S12: deployments


def test_S12_key_update_reaches_only_new_deployments(world):
    sim, kms, ecs, key = world
    k2 = kms.create_key(Policy=json.dumps(seed_policy()))["KeyMetadata"]
    ecs.create_cluster(clusterName="clusterName", configuration=cmk_conf(key["Arn"]))
    td = register_td(ecs)
    ecs.create_service(
        cluster="clusterName",
        serviceName="web",
        taskDefinition=td,
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration=NETCONF,
    )
    sim.fargate.settle()
    svc = ecs.describe_services(cluster="clusterName", services=["web"])["services"][0]
    assert svc["deployments"][0]["fargateEphemeralStorage"]["kmsKeyId"] == key["Arn"]
    old_tasks = ecs.list_tasks(cluster="clusterName", serviceName="web")["taskArns"]
    ecs.update_cluster(cluster="clusterName", configuration=cmk_conf(k2["Arn"]))
    sim.fargate.settle()
    svc = ecs.describe_services(cluster="clusterName", services=["web"])["services"][0]
    assert [d["fargateEphemeralStorage"]["kmsKeyId"] for d in svc["deployments"]] == [key["Arn"]]
    for a in old_tasks:
        assert describe(ecs, "clusterName", a)["fargateEphemeralStorage"]["kmsKeyId"] == key["Arn"]
    ecs.update_service(cluster="clusterName", service="web", forceNewDeployment=True)
    svc = ecs.describe_services(cluster="clusterName", services=["web"])["services"][0]
    primary = next(d for d in svc["deployments"] if d["status"] == "PRIMARY")
    assert primary["fargateEphemeralStorage"]["kmsKeyId"] == k2["Arn"]
    sim.fargate.settle()
    new_tasks = ecs.list_tasks(cluster="clusterName", serviceName="web")["taskArns"]
    assert new_tasks and set(new_tasks) != set(old_tasks)
    for a in new_tasks:
        assert describe(ecs, "clusterName", a)["fargateEphemeralStorage"]["kmsKeyId"] == k2["Arn"]


# ---------------------------------------------------------------- input validation


@pytest.mark.parametrize("size", [20, 201])
def test_task_definition_ephemeral_storage_range(world, size):
    _sim, _kms, ecs, _key = world
    with pytest.raises(ClientError) as ei:
        register_td(ecs, size=size)
    assert ei.value.code in ("ClientException", "InvalidParameterException")
    assert ecs.list_task_definitions()["taskDefinitionArns"] == []


def test_task_size_override_reaches_storage(world):
    sim, _kms, ecs, key = world
    ecs.create_cluster(clusterName="clusterName", configuration=cmk_conf(key["Arn"]))
    td = register_td(ecs, size=50)
    arn = run_one(sim, ecs, "clusterName", td)
    t = describe(ecs, "clusterName", arn)
    assert t["fargateEphemeralStorage"]["sizeInGiB"] == 50
    assert sim.fargate.volume(arn).size >= 50 * 2**30


def test_run_task_count_limit(world):
    _sim, _kms, ecs, _key = world
    ecs.create_cluster(clusterName="plain")
    td = register_td(ecs)
    with pytest.raises(ClientError) as ei:
        ecs.run_task(
            cluster="plain",
            taskDefinition=td,
            launchType="FARGATE",
            networkConfiguration=NETCONF,
            count=11,
        )
    assert ei.value.code in ("InvalidParameterException", "ClientException", "ValidationException")


def test_unknown_parameter_names_it(world):
    _sim, _kms, ecs, _key = world
    with pytest.raises(ClientError) as ei:
        ecs.create_cluster(clusterName="x", bogusParam=1)
    assert "bogusParam" in ei.value.message


def test_describe_missing_cluster_is_failure(world):
    _sim, _kms, ecs, _key = world
    r = ecs.describe_clusters(clusters=["nope"])
    assert r["clusters"] == [] and r["failures"][0]["reason"] == "MISSING"


# ---------------------------------------------------------------- S16 and the walkthrough


def test_S16_cloudformation_template(tmp_path, capsys):
    from simulator.cli import main

    t = tmp_path / "template.yaml"
    t.write_text("""AWSTemplateFormatVersion: 2010-09-09
Resources:
  Key:
    Type: AWS::KMS::Key
    Properties:
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal: {AWS: !Sub "arn:aws:iam::${AWS::AccountId}:root"}
            Action: "kms:*"
            Resource: "*"
  MyCluster:
    Type: AWS::ECS::Cluster
    Properties:
      ClusterName: "clusterName"
      Configuration:
        ManagedStorageConfiguration:
          FargateEphemeralStorageKmsKeyId: !GetAtt Key.Arn
""")
    rc = main(["deploy", str(t), "--json"])
    out = capsys.readouterr().out
    assert rc in (0, None), out
    assert "MyCluster" in out and "clusterName" in out


def test_S16_unsupported_resource_named(tmp_path, capsys):
    from simulator.cli import main

    t = tmp_path / "t.yaml"
    t.write_text(
        "Resources:\n  B:\n    Type: AWS::S3::Bucket\n  C:\n    Type: AWS::ECS::Cluster\n"
        "    Properties:\n      ClusterName: c\n"
    )
    rc = main(["deploy", str(t)])
    cap = capsys.readouterr()
    assert rc not in (0, None)
    assert "AWS::S3::Bucket" in cap.out + cap.err


def test_seed_walkthrough_scenario_passes(capsys):
    from simulator.cli import main

    rc = main(["scenario", "experiments/seed_walkthrough.toml"])
    out = capsys.readouterr().out
    assert rc in (0, None), out[-2000:]
    assert "FAIL" not in out.replace("FAILED_TO_START", "")
