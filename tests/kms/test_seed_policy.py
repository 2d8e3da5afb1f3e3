"""The seed page's key policy (S4-S8) with Fargate's KMS call sequence (FACTS.md)."""

from __future__ import annotations

import json

import pytest

from simulator import errors
from simulator.iam.seed import seed_key_policy
from tests.kms.conftest import (
    ACCOUNT,
    CLUSTER,
    CLUSTER_CONTEXT,
    EC2_REGIONAL,
    FARGATE,
    FARGATE_REGIONAL,
    OPERATOR,
    OTHER,
)


def test_fargate_generates_data_keys_for_the_right_cluster_only(fargate, seed_key):
    out = fargate.generate_data_key_without_plaintext(
        KeyId=seed_key["Arn"], NumberOfBytes=64, EncryptionContext=CLUSTER_CONTEXT)
    assert "Plaintext" not in out and len(out["CiphertextBlob"]) > 64
    for context in (
        {**CLUSTER_CONTEXT, "aws:ecs:clusterName": "other-cluster"},
        {**CLUSTER_CONTEXT, "aws:ecs:clusterAccount": OTHER},
        {"aws:ecs:clusterName": CLUSTER},
        {},
    ):
        with pytest.raises(errors.AccessDeniedException) as info:
            fargate.generate_data_key_without_plaintext(
                KeyId=seed_key["Arn"], NumberOfBytes=64, EncryptionContext=context)
        assert info.value.message.startswith(
            "Service: fargate.amazonaws.com is not authorized to perform: "
            f"kms:GenerateDataKeyWithoutPlaintext on resource: {seed_key['Arn']} because no "
            "resource-based policy allows the kms:GenerateDataKeyWithoutPlaintext action"
        )
    # Fargate may not ask for a plaintext data key: the policy allows WithoutPlaintext only.
    with pytest.raises(errors.AccessDeniedException):
        fargate.generate_data_key(KeyId=seed_key["Arn"], NumberOfBytes=64,
                                  EncryptionContext=CLUSTER_CONTEXT)


def test_fargate_may_grant_decrypt_only(fargate, seed_key):
    params = {"KeyId": seed_key["Arn"], "GranteePrincipal": FARGATE_REGIONAL,
              "Constraints": {"EncryptionContextSubset": CLUSTER_CONTEXT}}
    fargate.create_grant(Operations=["Decrypt"], **params)
    with pytest.raises(errors.AccessDeniedException) as info:
        fargate.create_grant(Operations=["Decrypt", "Encrypt"], **params)
    assert "kms:CreateGrant" in info.value.message
    assert "kms:GrantOperations" in "\n".join(info.value.details["evaluation"]["explanation"])
    # The cluster conditions read the grant's constraints (CreateGrant has no context of its own).
    with pytest.raises(errors.AccessDeniedException):
        fargate.create_grant(Operations=["Decrypt"], KeyId=seed_key["Arn"],
                             GranteePrincipal=FARGATE_REGIONAL)
    with pytest.raises(errors.AccessDeniedException):
        fargate.create_grant(
            Operations=["Decrypt"], KeyId=seed_key["Arn"], GranteePrincipal=FARGATE_REGIONAL,
            Constraints={"EncryptionContextSubset": {**CLUSTER_CONTEXT,
                                                     "aws:ecs:clusterName": "other"}})


def test_operator_role_gets_describe_key_and_nothing_else(sim, seed_key):
    operator = sim.client("kms", principal=OPERATOR)
    md = operator.describe_key(KeyId=seed_key["Arn"])["KeyMetadata"]
    assert (md["KeySpec"], md["KeyUsage"], md["KeyState"]) == (
        "SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", "Enabled")
    with pytest.raises(errors.AccessDeniedException):
        operator.encrypt(KeyId=seed_key["Arn"], Plaintext=b"x")
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/other-role").describe_key(
            KeyId=seed_key["Arn"])


def test_the_full_fargate_sequence(sim, fargate, seed_key):
    key = seed_key["Arn"]
    # 1-2: dry runs, as CloudTrail shows them.
    with pytest.raises(errors.DryRunOperationException):
        fargate.generate_data_key_without_plaintext(
            KeyId=key, NumberOfBytes=64, EncryptionContext=CLUSTER_CONTEXT, DryRun=True)
    with pytest.raises(errors.DryRunOperationException):
        fargate.create_grant(KeyId=key, GranteePrincipal=FARGATE_REGIONAL, Operations=["Decrypt"],
                             Constraints={"EncryptionContextSubset": CLUSTER_CONTEXT}, DryRun=True)
    # 3-4: the data key for this volume and the grant to decrypt it.
    context = {**CLUSTER_CONTEXT, "aws:ebs:id": "vol-0123456789abcdef0"}
    blob = fargate.generate_data_key_without_plaintext(
        KeyId=key, NumberOfBytes=64, EncryptionContext=context)["CiphertextBlob"]
    grant = fargate.create_grant(
        KeyId=key, GranteePrincipal=FARGATE_REGIONAL, Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": context}, RetiringPrincipal=EC2_REGIONAL)
    # 5: Decrypt through the grant; another volume's context does not satisfy it.
    regional = sim.client("kms", principal=FARGATE_REGIONAL)
    plaintext = regional.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"]
    assert len(plaintext) == 64
    other_volume = {**context, "aws:ebs:id": "vol-0fedcba9876543210"}
    with pytest.raises(errors.AccessDeniedException):
        regional.decrypt(CiphertextBlob=blob, EncryptionContext=other_volume)
    # 6: the task stops, EC2 retires the grant; Decrypt is refused afterwards.
    sim.client("kms", principal=EC2_REGIONAL).retire_grant(KeyId=key, GrantId=grant["GrantId"])
    with pytest.raises(errors.AccessDeniedException):
        regional.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    names = [r["eventName"] for r in sim.audit_trail.filter(event_source="kms")]
    assert names[-8:] == [
        "GenerateDataKeyWithoutPlaintext", "CreateGrant", "GenerateDataKeyWithoutPlaintext",
        "CreateGrant", "Decrypt", "Decrypt", "RetireGrant", "Decrypt",
    ]
    for rec in sim.audit_trail.filter(event_source="kms", invoked_by=FARGATE):
        assert rec["userIdentity"]["type"] == "AWSService"
        assert rec["recipientAccountId"] == ACCOUNT


def test_a_disabled_key_fails_new_tasks(fargate, kms, seed_key):
    kms.disable_key(KeyId=seed_key["KeyId"])
    with pytest.raises(errors.DisabledException):
        fargate.generate_data_key_without_plaintext(
            KeyId=seed_key["Arn"], NumberOfBytes=64, EncryptionContext=CLUSTER_CONTEXT)


def test_seed_policy_names_each_principal_as_the_page_does(kms, seed_key):
    doc = json.loads(kms.get_key_policy(KeyId=seed_key["KeyId"])["Policy"])
    assert doc == seed_key_policy(ACCOUNT, CLUSTER, "customer-chosen-role")
    principals = [s["Principal"] for s in doc["Statement"]]
    assert {"Service": FARGATE} in principals and {"AWS": OPERATOR} in principals
