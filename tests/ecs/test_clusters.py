"""Clusters: create/update/describe/list/delete, the KMS key check, IAM on the condition key."""

from __future__ import annotations

import json

import pytest

from simulator import errors
from tests.ecs.helpers import (
    ACCOUNT,
    NET,
    OPERATOR_NAME,
    allow,
    make_cluster,
    make_key,
    make_role,
    register,
    run,
)
from tests.seed_sample import seed_cluster

MSC = "managedStorageConfiguration"
FES = "fargateEphemeralStorageKmsKeyId"


def config(key: str, field: str = FES) -> dict:
    return {MSC: {field: key}}


def test_create_cluster_answers_like_the_seed_sample(sim):
    key = make_key(sim)
    out = sim.client("ecs").create_cluster(clusterName="clusterName", configuration=config(key))
    assert out["cluster"] == seed_cluster(key, ACCOUNT)


@pytest.mark.parametrize("field", [FES, "kmsKeyId"])
def test_cluster_key_given_by_id_is_shown_by_arn(sim, field):
    # Users report that ECS answers with the key ARN when the cluster was given a key ID
    # (CloudFormation drift on FargateEphemeralStorageKmsKeyId, Terraform plans id -> arn).
    arn = make_key(sim)
    key_id = arn.rsplit("/", 1)[-1]
    ecs = sim.client("ecs")
    out = ecs.create_cluster(clusterName="byid", configuration=config(key_id, field))
    assert out["cluster"]["configuration"][MSC][field] == arn
    # Re-creating with the ARN is the same request, so it returns the cluster.
    again = ecs.create_cluster(clusterName="byid", configuration=config(arn, field))
    assert again["cluster"]["clusterArn"] == out["cluster"]["clusterArn"]
    ecs.create_cluster(clusterName="later")
    upd = ecs.update_cluster(cluster="later", configuration=config(key_id, field))["cluster"]
    assert upd["configuration"][MSC][field] == arn
    if field == FES:
        [task] = run(sim, register(sim), cluster="byid")
        assert task["fargateEphemeralStorage"]["kmsKeyId"] == arn


def test_default_cluster_and_idempotent_create(sim):
    ecs = sim.client("ecs")
    first = ecs.create_cluster()["cluster"]
    assert first["clusterName"] == "default"
    assert ecs.create_cluster()["cluster"]["clusterArn"] == first["clusterArn"]
    with pytest.raises(errors.InvalidParameterException, match="inconsistent"):
        ecs.create_cluster(settings=[{"name": "containerInsights", "value": "enabled"}])
    assert ecs.list_clusters()["clusterArns"] == [first["clusterArn"]]


@pytest.mark.parametrize("name", ["has space", "x" * 256, "ünïcode", "a/b"])
def test_bad_cluster_names_are_refused(sim, name):
    with pytest.raises((errors.InvalidParameterException, errors.ValidationException)):
        sim.client("ecs").create_cluster(clusterName=name)
    assert sim.client("ecs").list_clusters()["clusterArns"] == []


def test_describe_clusters_include_and_failures(sim):
    key = make_key(sim)
    make_cluster(sim, key=key, tags=[{"key": "team", "value": "a"}],
                 settings=[{"name": "containerInsights", "value": "enabled"}])
    ecs = sim.client("ecs")
    plain = ecs.describe_clusters(clusters=["prod", "nope"])
    assert "configuration" not in plain["clusters"][0]
    # tags and settings listed empty unless included (the CLI's describe-clusters example)
    assert plain["clusters"][0]["tags"] == [] and plain["clusters"][0]["settings"] == []
    assert plain["failures"] == [
        {"arn": f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/nope", "reason": "MISSING"}
    ]
    full = ecs.describe_clusters(
        clusters=[f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/prod"],
        include=["CONFIGURATIONS", "TAGS", "SETTINGS", "STATISTICS", "ATTACHMENTS"],
    )["clusters"][0]
    assert full["configuration"] == {MSC: {FES: key}}
    assert full["tags"] == [{"key": "team", "value": "a"}]
    assert full["settings"] == [{"name": "containerInsights", "value": "enabled"}]
    stats = {s["name"]: s["value"] for s in full["statistics"]}
    assert stats["runningFargateTasksCount"] == "0"
    assert full["attachments"] == []


def test_cluster_counts_follow_tasks(sim):
    make_cluster(sim)
    td = register(sim)
    run(sim, td, count=2, settle=False)
    ecs = sim.client("ecs")
    c = ecs.describe_clusters(clusters=["prod"])["clusters"][0]
    assert (c["pendingTasksCount"], c["runningTasksCount"]) == (2, 0)
    sim.fargate.settle()
    c = ecs.describe_clusters(clusters=["prod"], include=["STATISTICS"])["clusters"][0]
    assert (c["pendingTasksCount"], c["runningTasksCount"]) == (0, 2)
    assert {"name": "runningFargateTasksCount", "value": "2"} in c["statistics"]


def test_list_clusters_pages(sim):
    ecs = sim.client("ecs")
    for i in range(5):
        ecs.create_cluster(clusterName=f"c{i}")
    page = ecs.list_clusters(maxResults=2)
    assert len(page["clusterArns"]) == 2
    rest = ecs.list_clusters(nextToken=page["nextToken"], maxResults=10)
    assert len(rest["clusterArns"]) == 3 and "nextToken" not in rest
    with pytest.raises(errors.InvalidParameterException, match="nextToken"):
        ecs.list_clusters(nextToken="garbage!")
    with pytest.raises(errors.InvalidParameterException, match="maxResults"):
        ecs.list_clusters(maxResults=101)


def test_delete_cluster_refused_while_tasks_run(sim):
    make_cluster(sim)
    [task] = run(sim, register(sim))
    ecs = sim.client("ecs")
    with pytest.raises(errors.ClusterContainsTasksException):
        ecs.delete_cluster(cluster="prod")
    ecs.stop_task(cluster="prod", task=task["taskArn"])
    sim.fargate.settle()
    out = ecs.delete_cluster(cluster="prod")["cluster"]
    assert out["status"] == "INACTIVE"
    assert ecs.list_clusters()["clusterArns"] == []
    assert ecs.describe_clusters(clusters=["prod"])["clusters"][0]["status"] == "INACTIVE"
    with pytest.raises(errors.ClusterNotFoundException):
        ecs.update_cluster(cluster="prod", settings=[])
    with pytest.raises(errors.ClusterNotFoundException):
        ecs.delete_cluster(cluster="prod")


def test_delete_cluster_refused_while_services_active(sim):
    make_cluster(sim)
    td = register(sim)
    ecs = sim.client("ecs")
    ecs.create_service(cluster="prod", serviceName="web", taskDefinition=td, desiredCount=0,
                       launchType="FARGATE", networkConfiguration=NET)
    with pytest.raises(errors.ClusterContainsServicesException):
        ecs.delete_cluster(cluster="prod")


def test_update_cluster_sets_replaces_and_removes_the_key(sim):
    k1, k2 = make_key(sim), make_key(sim)
    make_cluster(sim, key=k1)
    ecs = sim.client("ecs")
    out = ecs.update_cluster(cluster="prod", configuration=config(k2))["cluster"]
    assert out["configuration"][MSC] == {FES: k2}
    out = ecs.update_cluster(cluster="prod", configuration=config(k1, "kmsKeyId"))["cluster"]
    assert out["configuration"][MSC] == {"kmsKeyId": k1}
    out = ecs.update_cluster(cluster="prod", configuration={MSC: {}})["cluster"]
    assert "configuration" not in out


def test_both_managed_storage_keys_are_accepted(sim):
    k1, k2 = make_key(sim), make_key(sim)
    out = make_cluster(sim, configuration={MSC: {FES: k1, "kmsKeyId": k2}})
    assert out["configuration"][MSC] == {FES: k1, "kmsKeyId": k2}


# -- the key check (S7) -------------------------------------------------------------------
def _refused(sim, key, field=FES, principal=None):
    ecs = sim.client("ecs", principal=principal)
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.create_cluster(clusterName="prod", configuration=config(key, field))
    assert key in info.value.message
    assert field in info.value.message
    assert sim.client("ecs").list_clusters()["clusterArns"] == []
    return info.value.message


def test_alias_is_refused_without_asking_kms(sim):
    kms = sim.client("kms")
    arn = make_key(sim)
    kms.create_alias(AliasName="alias/fargate", TargetKeyId=arn)
    before = len(sim.audit_trail)
    assert "alias" in _refused(sim, "alias/fargate")
    assert "alias" in _refused(sim, f"arn:aws:kms:us-west-2:{ACCOUNT}:alias/fargate")
    assert [r["eventName"] for r in sim.audit_trail[before:]
            if r["eventSource"] == "kms.amazonaws.com"] == []


@pytest.mark.parametrize("field", [FES, "kmsKeyId"])
def test_missing_key_is_refused(sim, field):
    missing = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555"
    assert "does not exist" in _refused(sim, missing, field)


def test_disabled_key_is_refused(sim):
    key = make_key(sim)
    sim.client("kms").disable_key(KeyId=key)
    assert "disabled" in _refused(sim, key)


def test_key_refusals_keep_the_advice_in_the_explanation(sim):
    # The wording is the simulator's (no recorded ECS answer): the message says what is wrong,
    # the explanation what to do about it.
    key = make_key(sim)
    sim.client("kms").disable_key(KeyId=key)
    with pytest.raises(errors.InvalidParameterException) as info:
        sim.client("ecs").create_cluster(clusterName="prod", configuration=config(key))
    assert info.value.message == (
        f"The KMS key {key} given in configuration.managedStorageConfiguration.{FES} cannot be "
        "used: the key is disabled.")
    assert info.value.explanation == "enable it (kms:EnableKey) or choose another key"


def test_key_waiting_for_its_material_is_refused_as_pending_import_not_disabled(sim):
    """An EXTERNAL-origin key without material is Enabled: false and in state PendingImport;
    the refusal names the state and how to leave it (it was "the key is disabled")."""
    key = sim.client("kms").create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with pytest.raises(errors.InvalidParameterException) as info:
        sim.client("ecs").create_cluster(clusterName="prod", configuration=config(key))
    assert "state PendingImport" in info.value.message and "disabled" not in info.value.message
    assert "kms:ImportKeyMaterial" in info.value.explanation


def test_key_pending_deletion_is_refused(sim):
    key = make_key(sim)
    sim.client("kms").schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    assert "pending deletion" in _refused(sim, key)


@pytest.mark.parametrize(
    ("spec", "usage", "word"),
    [("RSA_2048", "ENCRYPT_DECRYPT", "asymmetric"),
     ("ECC_NIST_P256", "SIGN_VERIFY", "asymmetric"),
     ("HMAC_256", "GENERATE_VERIFY_MAC", "HMAC")],
)
def test_non_symmetric_keys_are_refused(sim, spec, usage, word):
    key = make_key(sim, KeySpec=spec, KeyUsage=usage)
    message = _refused(sim, key)
    assert word in message and spec in message


def test_multi_region_key_is_refused(sim):
    key = make_key(sim, MultiRegion=True)
    assert "multi-Region" in _refused(sim, key)


def test_denied_describe_key_names_the_missing_permission(sim):
    role = make_role(sim, "ClusterAdmin", allow("ecs:*"))
    key = make_key(sim)  # the seed policy lets only customer-chosen-role describe it
    # The account-root statement delegates to IAM, and ClusterAdmin's policy has no kms:*.
    message = _refused(sim, key, principal=role)
    assert "kms:DescribeKey" in message
    assert role in message
    rec = [r for r in sim.audit_trail if r["eventName"] == "DescribeKey"][-1]
    assert rec["errorCode"] == "AccessDeniedException"
    assert rec["userIdentity"]["sessionContext"]["sessionIssuer"]["arn"] == role


def test_operator_role_with_seed_key_policy_passes(sim):
    role = make_role(sim, OPERATOR_NAME, allow("ecs:*"))
    key = make_key(sim)
    out = sim.client("ecs", principal=role).create_cluster(
        clusterName="prod", configuration=config(key)
    )["cluster"]
    assert out["configuration"][MSC][FES] == key


# -- identity policies with the condition key (S10, S11) ---------------------------------
def test_role_without_policies_cannot_create_clusters(sim):
    role = make_role(sim, "Nobody")
    with pytest.raises(errors.AccessDeniedException, match="ecs:CreateCluster"):
        sim.client("ecs", principal=role).create_cluster(clusterName="x")


def test_condition_key_carries_the_key_as_given(sim):
    k1, k2 = make_key(sim), make_key(sim)
    role = make_role(
        sim, OPERATOR_NAME,
        allow(["ecs:CreateCluster", "ecs:UpdateCluster"],
              StringEquals={"ecs:fargate-ephemeral-storage-kms-key": k1}),
    )
    ecs = sim.client("ecs", principal=role)
    ecs.create_cluster(clusterName="prod", configuration=config(k1))
    with pytest.raises(errors.AccessDeniedException):
        ecs.create_cluster(clusterName="other", configuration=config(k2))
    with pytest.raises(errors.AccessDeniedException):
        ecs.create_cluster(clusterName="nokey")
    with pytest.raises(errors.AccessDeniedException):
        ecs.update_cluster(cluster="prod", configuration=config(k2))
    ecs.update_cluster(cluster="prod", configuration=config(k1))


def test_access_denied_comes_before_the_key_check(sim):
    role = make_role(sim, "Nobody")
    with pytest.raises(errors.AccessDeniedException):
        sim.client("ecs", principal=role).create_cluster(
            clusterName="x", configuration=config("alias/whatever")
        )
    assert "DescribeKey" not in [r["eventName"] for r in sim.audit_trail]


def test_capacity_providers(sim):
    ecs = sim.client("ecs")
    out = ecs.create_cluster(
        clusterName="cp", capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
    )["cluster"]
    assert out["capacityProviders"] == ["FARGATE", "FARGATE_SPOT"]
    with pytest.raises(errors.InvalidParameterException, match="capacity provider"):
        ecs.create_cluster(clusterName="bad", capacityProviders=["MY_ASG"])
    with pytest.raises(errors.InvalidParameterException, match="not associated"):
        ecs.create_cluster(
            clusterName="bad2",
            defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE"}],
        )


def test_reserved_tag_prefix_is_refused(sim):
    with pytest.raises(errors.InvalidParameterException, match="reserved"):
        sim.client("ecs").create_cluster(clusterName="t", tags=[{"key": "aws:x", "value": "1"}])


def test_create_cluster_is_audited_with_camel_case_names(sim):
    key = make_key(sim)
    make_cluster(sim, key=key)
    rec = [r for r in sim.audit_trail if r["eventName"] == "CreateCluster"][-1]
    assert rec["eventSource"] == "ecs.amazonaws.com"
    assert rec["requestParameters"]["configuration"][MSC][FES] == key
    assert json.dumps(rec)  # serialisable


def test_a_setting_without_a_name_is_refused(sim):
    with pytest.raises(errors.InvalidParameterException, match="needs a name"):
        sim.client("ecs").create_cluster(clusterName="c", settings=[{"value": "enabled"}])
    assert sim.client("ecs").list_clusters()["clusterArns"] == []


def test_update_cluster_settings_changes_settings_and_keeps_the_key(sim):
    key = make_key(sim)
    make_cluster(sim, key=key, settings=[{"name": "containerInsights", "value": "disabled"}])
    ecs = sim.client("ecs")
    out = ecs.update_cluster_settings(cluster="prod", settings=[
        {"name": "containerInsights", "value": "enhanced"}])["cluster"]
    assert out["settings"] == [{"name": "containerInsights", "value": "enhanced"}]
    assert out["configuration"][MSC][FES] == key
    with pytest.raises(errors.InvalidParameterException, match="containerInsights must be"):
        ecs.update_cluster_settings(cluster="prod", settings=[
            {"name": "containerInsights", "value": "on"}])
    with pytest.raises(errors.ClusterNotFoundException):
        ecs.update_cluster_settings(cluster="nope", settings=[
            {"name": "containerInsights", "value": "enabled"}])


def test_capacity_provider_and_idempotency_refusals_in_aws_words(sim):
    ecs = sim.client("ecs")
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.create_cluster(clusterName="bad", capacityProviders=["MY_ASG"])
    assert info.value.message == ("The specified capacity provider was not found. Specify a "
                                  "valid capacity provider and try again.")
    assert "MY_ASG" in (info.value.explanation or "")
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.create_cluster(clusterName="bad2", capacityProviders=["FARGATE"],
                           defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE_SPOT"}])
    assert info.value.message == (
        "The specified capacity provider strategy cannot contain a capacity provider that is "
        "not associated with the cluster. Associate the capacity provider with the cluster or "
        "specify a valid capacity provider and try again.")
    assert "FARGATE_SPOT" in (info.value.explanation or "")
    ecs.create_cluster(clusterName="prod")
    with pytest.raises(errors.InvalidParameterException) as info:
        ecs.create_cluster(clusterName="prod", capacityProviders=["FARGATE"])
    assert info.value.message == ("Arguments on this idempotent request are inconsistent with "
                                  "arguments used in previous request(s).")
    assert "UpdateCluster" in (info.value.explanation or "")
    assert ecs.list_clusters()["clusterArns"] == [
        f"arn:aws:ecs:us-west-2:{ACCOUNT}:cluster/prod"]
    assert ecs.describe_clusters(clusters=["prod"])["clusters"][0]["capacityProviders"] == []


@pytest.mark.parametrize("create,state", [
    ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, None),
    ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, None),
    ({"KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY"}, None),
    ({}, "PendingDeletion"),
    ({}, "Disabled"),
    ({"Origin": "EXTERNAL"}, None),  # PendingImport: a state ECS cannot use
])
def test_every_key_refusal_says_what_to_do_in_the_explanation(sim, create, state):
    key = make_key(sim, **create)
    kms = sim.client("kms")
    if state == "PendingDeletion":
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
    elif state == "Disabled":
        kms.disable_key(KeyId=key)
    with pytest.raises(errors.InvalidParameterException) as info:
        sim.client("ecs").create_cluster(clusterName="prod", configuration=config(key))
    assert "cannot be used" in info.value.message
    assert info.value.explanation and info.value.explanation not in info.value.message
