"""Behaviour the KMS API reference documents, checked as a boto3 user would see it.

Each test quotes the line of AWS's documentation (botocore's KMS model carries the API
reference) that it holds the simulator to.
"""

from __future__ import annotations

import json

import pytest

from simulator import errors
from tests.kms.conftest import ACCOUNT, make_role, policy_json, root_statement

DAY = 86400.0


# -- request validation: blob lengths (PlaintextType: min 1, max 4096) ----------------------
@pytest.mark.parametrize(("size", "bound"), [(4097, "less than or equal to 4096"),
                                             (0, "greater than or equal to 1")])
def test_encrypt_plaintext_length_is_validated(kms, key, size, bound):
    # Encrypt: "You can encrypt up to 4 kilobytes (4096 bytes) of arbitrary data"
    with pytest.raises(errors.ValidationException) as info:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * size)
    assert "'plaintext'" in info.value.message and bound in info.value.message
    assert "xxxx" not in info.value.message  # a sensitive value is never echoed
    assert len(kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 4096)["CiphertextBlob"]) > 4096


def test_decrypt_ciphertext_blob_length_is_validated(kms, key):
    with pytest.raises(errors.ValidationException) as info:
        kms.decrypt(CiphertextBlob=b"x" * 6145)
    assert "'ciphertextBlob'" in info.value.message


def test_sign_message_length_is_validated(kms):
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"][
        "KeyId"]
    with pytest.raises(errors.ValidationException) as info:
        kms.sign(KeyId=key_id, Message=b"m" * 4097, SigningAlgorithm="ECDSA_SHA_256")
    assert "'message'" in info.value.message


# -- rotation status while pending deletion --------------------------------------------------
def test_rotation_status_is_false_while_pending_deletion(kms, key):
    # GetKeyRotationStatus: "Pending deletion: While a KMS key is pending deletion, its key
    # rotation status is false and KMS does not rotate the key material. If you cancel the
    # deletion, the original key rotation status returns to true."
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90


def test_no_automatic_rotation_while_disabled(sim, kms, key):
    # "Disabled: ... while the KMS key is disabled, KMS does not rotate the key material. When
    # you re-enable the KMS key, rotation resumes. If the key material in the re-enabled KMS
    # key hasn't been rotated in one year, KMS rotates it immediately"
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    kms.disable_key(KeyId=key["KeyId"])
    sim.clock.advance(200 * DAY)
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert rotations == []
    kms.enable_key(KeyId=key["KeyId"])
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC"]
    assert rotations[0]["RotationDate"] == sim.clock.now()
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert (status["NextRotationDate"] - sim.clock.now()).days == 90


def test_automatic_rotation_keeps_its_schedule_while_enabled(sim, kms, key):
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    sim.clock.advance(200 * DAY)
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert len(rotations) == 2  # day 90 and day 180


# -- grant constraints: keys case-insensitive, values case-sensitive --------------------------
@pytest.mark.parametrize("kind", ["EncryptionContextSubset", "EncryptionContextEquals"])
def test_grant_constraint_keys_are_case_insensitive(sim, kms, key, kind):
    # GrantConstraints: "in a grant constraint, the key in each key-value pair is not case
    # sensitive, but the value is case sensitive."
    app = make_role(sim, "App")
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=app, Operations=["Encrypt"],
                     Constraints={kind: {"Purpose": "Test"}})
    client = sim.client("kms", principal=app)
    out = client.encrypt(KeyId=key["KeyId"], Plaintext=b"x",
                         EncryptionContext={"purpose": "Test"})
    assert out["KeyId"] == key["Arn"]
    with pytest.raises(errors.AccessDeniedException):
        client.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"Purpose": "test"})


def test_child_grant_constraint_key_case_does_not_matter(sim, kms, key):
    # "If a grant with a grant constraint includes the CreateGrant operation, the constraint
    # requires that any grants created with the CreateGrant permission have an equally strict
    # or stricter encryption context constraint."
    app = make_role(sim, "App")
    other = make_role(sim, "Other")
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=app,
                     Operations=["Decrypt", "CreateGrant"],
                     Constraints={"EncryptionContextSubset": {"Team": "blue"}})
    client = sim.client("kms", principal=app)
    out = client.create_grant(KeyId=key["KeyId"], GranteePrincipal=other, Operations=["Decrypt"],
                              Constraints={"EncryptionContextSubset": {"team": "blue"}})
    assert len(out["GrantId"]) == 64
    with pytest.raises(errors.AccessDeniedException):
        client.create_grant(KeyId=key["KeyId"], GranteePrincipal=other, Operations=["Decrypt"],
                            Constraints={"EncryptionContextSubset": {"team": "Blue"}})


# -- key policies: statements without Action or Resource --------------------------------------
def test_key_policy_statement_without_resource_is_accepted_but_ineffective(sim, kms):
    # PutKeyPolicy Policy: "If either of the required Resource or Action elements are missing
    # from a key policy statement, the policy statement has no effect. ... the PutKeyPolicy API
    # request succeeds, even though the policy statement is ineffective."
    app = make_role(sim, "App")
    no_resource = {"Effect": "Allow", "Principal": {"AWS": app}, "Action": "kms:Encrypt"}
    no_action = {"Effect": "Allow", "Principal": {"AWS": app}, "Resource": "*"}
    text = policy_json(root_statement(), no_resource, no_action)
    key = kms.create_key(Policy=text)["KeyMetadata"]
    assert json.loads(kms.get_key_policy(KeyId=key["KeyId"])["Policy"]) == json.loads(text)
    kms.put_key_policy(KeyId=key["KeyId"], Policy=text)
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal=app).encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_key_policy_lockout_ignores_ineffective_statements(kms, key):
    only_ineffective = policy_json(
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*"}
    )
    with pytest.raises(errors.MalformedPolicyDocumentException) as info:
        kms.put_key_policy(KeyId=key["KeyId"], Policy=only_ineffective)
    assert "will not allow you to update the key policy" in info.value.message


def test_grant_constraint_holds_at_most_eight_pairs(sim, kms, key):
    # CreateGrant Constraints: "Each constraint value can include up to 8 encryption context
    # pairs."
    app = make_role(sim, "App")
    eight = {f"k{i}": "v" for i in range(8)}
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=app, Operations=["Decrypt"],
                     Constraints={"EncryptionContextSubset": eight})
    with pytest.raises(errors.ValidationException) as info:
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=app, Operations=["Decrypt"],
                         Constraints={"EncryptionContextSubset": {**eight, "k8": "v"}})
    assert "EncryptionContextSubset" in info.value.message


def test_revoke_grant_sees_grant_is_for_aws_resource(sim, kms):
    # kms:GrantIsForAWSResource applies to CreateGrant, ListGrants and RevokeGrant.
    deny = {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "kms:RevokeGrant",
            "Resource": "*", "Condition": {"Bool": {"kms:GrantIsForAWSResource": "false"}}}
    key = kms.create_key(Policy=policy_json(root_statement(), deny))["KeyMetadata"]
    app = make_role(sim, "App")
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=app, Operations=["Decrypt"])
    with pytest.raises(errors.AccessDeniedException) as info:
        kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    assert "explicit deny" in info.value.message


# -- cross-account use -------------------------------------------------------------------------
OTHER = "444455556666"


@pytest.mark.parametrize("operation", ["ScheduleKeyDeletion", "DisableKey", "GetKeyPolicy",
                                       "TagResource", "UpdateKeyDescription", "EnableKeyRotation"])
def test_operations_without_cross_account_use_cannot_reach_another_accounts_key(
        sim, kms, operation):
    # e.g. ScheduleKeyDeletion: "Cross-account use: No. You cannot perform this operation on a
    # KMS key in a different Amazon Web Services account."
    everyone = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": "kms:*", "Resource": "*"}
    key = kms.create_key(Policy=policy_json(root_statement(), everyone))["KeyMetadata"]
    other = sim.client("kms", principal=OTHER)
    params = {
        "ScheduleKeyDeletion": {}, "DisableKey": {}, "GetKeyPolicy": {},
        "TagResource": {"Tags": [{"TagKey": "a", "TagValue": "b"}]},
        "UpdateKeyDescription": {"Description": "x"}, "EnableKeyRotation": {},
    }[operation]
    with pytest.raises(errors.NotFoundException):
        other.call(operation, {"KeyId": key["Arn"], **params})
    # the cross-account operations still work with the same key policy
    assert other.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert other.encrypt(KeyId=key["Arn"], Plaintext=b"x")["KeyId"] == key["Arn"]


def test_the_issuing_account_may_retire_a_grant(sim, kms):
    # RetireGrant: "This operation can be called by the retiring principal for a grant, by the
    # grantee principal if the grant allows the RetireGrant operation, and by the Amazon Web
    # Services account in which the grant is created."
    admin = make_role(sim, "Admin")
    only_admin = {"Effect": "Allow", "Principal": {"AWS": admin}, "Action": "kms:*",
                  "Resource": "*"}
    key = kms.create_key(Policy=policy_json(only_admin), BypassPolicyLockoutSafetyCheck=True)[
        "KeyMetadata"]
    admin_kms = sim.client("kms", principal=admin)
    app = make_role(sim, "App")
    grant = admin_kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=app,
                                   Operations=["Decrypt"])
    stranger = make_role(sim, "Stranger")
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal=stranger).retire_grant(KeyId=key["Arn"],
                                                           GrantId=grant["GrantId"])
    kms.retire_grant(KeyId=key["Arn"], GrantId=grant["GrantId"])  # the account root
    assert admin_kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
