"""Key states on the simulated clock: disable, scheduled deletion, rotation; the lockout check."""

from __future__ import annotations

from datetime import timedelta

import pytest

from simulator import errors
from tests.kms.conftest import ACCOUNT, explanation_of, make_role, policy_json, root_statement

DAY = 86400.0


def _every_crypto_call(kms, key_id, blob):
    """One call of every cryptographic operation on a symmetric key."""
    return {
        "Encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob),
        "ReEncrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(
            KeyId=key_id, NumberOfBytes=64),
    }


def test_a_disabled_key_refuses_every_cryptographic_operation(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    for name, call in _every_crypto_call(kms, key["KeyId"], blob).items():
        with pytest.raises(errors.DisabledException) as info:
            call()
        assert info.value.message == f"{key['Arn']} is disabled.", name
    # Management still works on a disabled key, and enabling restores everything.
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/App",
                     Operations=["Decrypt"])
    kms.enable_key(KeyId=key["KeyId"])
    for call in _every_crypto_call(kms, key["KeyId"], blob).values():
        call()


def test_disabled_hmac_and_signing_keys_refuse_too(kms):
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    sign_key = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms.disable_key(KeyId=hmac_key["KeyId"])
    kms.disable_key(KeyId=sign_key["KeyId"])
    with pytest.raises(errors.DisabledException):
        kms.generate_mac(KeyId=hmac_key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    with pytest.raises(errors.DisabledException):
        kms.sign(KeyId=sign_key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(errors.DisabledException):
        kms.get_public_key(KeyId=sign_key["KeyId"])


def test_deletion_waits_its_window_on_the_simulated_clock(sim, kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    out = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert out["KeyState"] == "PendingDeletion" and out["PendingWindowInDays"] == 7
    assert out["DeletionDate"] == sim.clock.now() + timedelta(days=7)
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion" and md["Enabled"] is False
    assert md["DeletionDate"] == out["DeletionDate"]
    # only a multi-Region primary waiting for its replicas (PendingReplicaDeletion) has it
    assert "PendingDeletionWindowInDays" not in md
    for call in _every_crypto_call(kms, key["KeyId"], blob).values():
        with pytest.raises(errors.KMSInvalidStateException, match="pending deletion"):
            call()
    with pytest.raises(errors.KMSInvalidStateException):
        kms.enable_key(KeyId=key["KeyId"])
    with pytest.raises(errors.KMSInvalidStateException):
        kms.schedule_key_deletion(KeyId=key["KeyId"])
    sim.clock.advance(7 * DAY - 1)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    sim.clock.advance(1)
    with pytest.raises(errors.NotFoundException):
        kms.describe_key(KeyId=key["KeyId"])
    assert key["KeyId"] not in [k["KeyId"] for k in kms.list_keys()["Keys"]]
    with pytest.raises(errors.NotFoundException) as info:
        kms.decrypt(CiphertextBlob=blob)
    assert info.value.message == f"Key '{key['Arn']}' does not exist"
    assert "deleted" in explanation_of(info.value)


def test_deletion_is_applied_lazily_too(sim, kms, key):
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=30)
    service = sim.service("kms")
    service._deletions[key["KeyId"]].cancel()  # as if the clock callback never ran
    sim.clock.advance(31 * DAY)
    with pytest.raises(errors.NotFoundException):
        kms.describe_key(KeyId=key["KeyId"])
    assert key["KeyId"] not in service.keys


def test_deleting_a_key_removes_its_aliases_and_grants(sim, kms, key):
    kms.create_alias(AliasName="alias/gone", TargetKeyId=key["KeyId"])
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:role/App",
                     Operations=["Decrypt"])
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    sim.clock.advance(8 * DAY)
    assert kms.list_aliases()["Aliases"] == []
    assert len(sim.service("kms").grants) == 0


@pytest.mark.parametrize("days", [6, 31])
def test_pending_window_must_be_7_to_30_days(kms, key, days):
    with pytest.raises(errors.ValidationException, match="pendingWindowInDays"):
        kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=days)


def test_default_window_is_30_days(sim, kms, key):
    out = kms.schedule_key_deletion(KeyId=key["KeyId"])
    assert out["PendingWindowInDays"] == 30


def test_cancel_key_deletion_leaves_the_key_disabled(sim, kms, key):
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert kms.cancel_key_deletion(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "Disabled" and "DeletionDate" not in md
    sim.clock.advance(10 * DAY)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    with pytest.raises(errors.KMSInvalidStateException):
        kms.cancel_key_deletion(KeyId=key["KeyId"])


def test_rotation_keeps_old_ciphertexts_decryptable(kms, key):
    old = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"old", EncryptionContext={"v": "1"})
    first = key["CurrentKeyMaterialId"]
    assert kms.rotate_key_on_demand(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["CurrentKeyMaterialId"] != first
    new = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert new["KeyMaterialId"] == md["CurrentKeyMaterialId"]
    back = kms.decrypt(CiphertextBlob=old["CiphertextBlob"], EncryptionContext={"v": "1"})
    assert back["Plaintext"] == b"old" and back["KeyMaterialId"] == first
    assert kms.decrypt(CiphertextBlob=new["CiphertextBlob"])["KeyMaterialId"] == (
        md["CurrentKeyMaterialId"])
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [(r["RotationType"], r["KeyMaterialState"]) for r in rotations] == [
        ("ON_DEMAND", "CURRENT")]
    everything = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")
    assert [r["KeyMaterialId"] for r in everything["Rotations"]] == [
        first, md["CurrentKeyMaterialId"]]


def test_automatic_rotation_on_the_simulated_clock(sim, kms, key):
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False and status["KeyId"] == key["Arn"]
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["RotationPeriodInDays"] == 90
    assert status["NextRotationDate"] == sim.clock.now() + timedelta(days=90)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    sim.clock.advance(200 * DAY)
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [r["RotationType"] for r in rotations] == ["AUTOMATIC", "AUTOMATIC"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    kms.disable_key_rotation(KeyId=key["KeyId"])
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_changing_the_rotation_period_moves_the_next_rotation_date(sim, kms, key):
    """A new RotationPeriodInDays counts from the last rotation (here, from enabling)."""
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=365)
    start = sim.clock.now()
    sim.clock.advance(10 * DAY)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=180)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["RotationPeriodInDays"] == 180
    assert status["NextRotationDate"] == start + timedelta(days=180)
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=400)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["NextRotationDate"] == start + timedelta(days=400)


def test_an_automatic_rotation_is_a_cloudtrail_service_event_when_it_falls_due(sim, kms, key):
    """RotateKey, by "AWS Internal", at day 90 and day 180, each naming the material it
    replaced and the new one, though nobody used the key in between."""
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    first = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    start = sim.clock.now()
    mark = len(sim.audit_trail)
    sim.clock.advance(200 * DAY)
    events = [e for e in sim.audit_trail[mark:] if e["eventName"] == "RotateKey"]
    assert [e["eventTime"] for e in events] == [
        (start + timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ") for d in (90, 180)]
    assert {e["eventType"] for e in events} == {"AwsServiceEvent"}
    assert events[0]["serviceEventDetails"]["previousKeyMaterialId"] == first
    assert events[1]["serviceEventDetails"]["previousKeyMaterialId"] == \
        events[0]["serviceEventDetails"]["currentKeyMaterialId"]
    assert events[0]["resources"][0]["ARN"] == key["Arn"]
    kms.rotate_key_on_demand(KeyId=key["KeyId"])  # the caller's own call, not an event
    assert [e["eventName"] for e in sim.audit_trail[mark:]][-1] == "RotateKeyOnDemand"


def test_a_rotation_an_enable_key_sets_off_follows_it_in_the_trail(sim, kms, key):
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    kms.disable_key(KeyId=key["KeyId"])
    sim.clock.advance(100 * DAY)
    mark = len(sim.audit_trail)
    kms.enable_key(KeyId=key["KeyId"])  # "KMS rotates it immediately"
    assert [e["eventName"] for e in sim.audit_trail[mark:]] == ["EnableKey", "RotateKey"]


def test_a_key_saved_before_rotations_were_scheduled_still_rotates_when_due(sim, kms, key,
                                                                          tmp_path):
    """State from an earlier fargate-sim has no clock call for the next rotation: loading it
    sets one, so the rotation and its event come at the due date, not at the next use."""
    from simulator.api.store import StateStore

    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    due = kms.get_key_rotation_status(KeyId=key["KeyId"])["NextRotationDate"]
    record = sim.service("kms").keys[key["KeyId"]]
    record.rotation_call.cancel()
    record.rotation_call = None  # as a key saved before 7d34ae9
    store = StateStore(tmp_path / "s.db")
    store.save(sim)
    restored = StateStore(tmp_path / "s.db").load()
    mark = len(restored.audit_trail)
    restored.clock.advance(100 * DAY)
    [event] = [e for e in restored.audit_trail[mark:] if e["eventName"] == "RotateKey"]
    assert event["eventTime"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_rotation_is_for_symmetric_keys_only(kms):
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    for call in (kms.enable_key_rotation, kms.rotate_key_on_demand):
        with pytest.raises(errors.UnsupportedOperationException):
            call(KeyId=rsa["KeyId"])


def test_on_demand_rotation_quota(sim, kms, key):
    sim.service("kms").quotas.on_demand_rotations_per_key = 2
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    with pytest.raises(errors.LimitExceededException):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])


def test_the_default_on_demand_quota_is_the_documented_one(sim, kms, key):
    """25 on-demand rotations per key, as RotateKeyOnDemand's documentation (botocore) says;
    the 26th is refused."""
    import re

    import botocore.session

    doc = botocore.session.get_session().get_service_model("kms").operation_model(
        "RotateKeyOnDemand").documentation
    documented = int(re.search(r"maximum of (\d+) times", doc).group(1))  # type: ignore[union-attr]
    assert sim.service("kms").quotas.on_demand_rotations_per_key == documented == 25
    for _ in range(documented):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    with pytest.raises(errors.LimitExceededException):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])


def test_rotation_of_a_disabled_key_is_refused(kms, key):
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(errors.DisabledException):
        kms.enable_key_rotation(KeyId=key["KeyId"])


# -- the lockout safety check ----------------------------------------------------------------
LOCKOUT = "The new key policy will not allow you to update the key policy in the future."


def test_put_key_policy_refuses_a_policy_that_locks_the_caller_out(sim, kms, key):
    admin = make_role(sim, "Admin", {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    admin_kms = sim.client("kms", principal=admin)
    only_describe = policy_json({"Sid": "ReadOnly", "Effect": "Allow",
                                 "Principal": {"AWS": admin}, "Action": "kms:DescribeKey",
                                 "Resource": "*"})
    with pytest.raises(errors.ClientError) as info:
        admin_kms.put_key_policy(KeyId=key["Arn"], Policy=only_describe)
    assert info.value.code == "MalformedPolicyDocumentException"
    assert info.value.message == LOCKOUT
    admin_kms.put_key_policy(KeyId=key["Arn"], Policy=only_describe,
                             BypassPolicyLockoutSafetyCheck=True)
    with pytest.raises(errors.AccessDeniedException):
        admin_kms.put_key_policy(KeyId=key["Arn"], Policy=policy_json(root_statement()))


def test_a_policy_delegating_to_iam_passes_the_check_with_an_iam_allow(sim, kms, key):
    delegating = policy_json(root_statement())
    weak = make_role(sim, "Weak", {"Effect": "Allow", "Action": "kms:PutKeyPolicy",
                                   "Resource": "*"})
    sim.client("kms", principal=weak).put_key_policy(KeyId=key["Arn"], Policy=delegating)
    # A role allowed PutKeyPolicy only with the bypass flag: refused without it, and with it
    # the safety check is skipped.
    once = make_role(sim, "Once", {
        "Effect": "Allow", "Action": "kms:PutKeyPolicy", "Resource": "*",
        "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}}})
    once_kms = sim.client("kms", principal=once)
    with pytest.raises(errors.AccessDeniedException):
        once_kms.put_key_policy(KeyId=key["Arn"], Policy=delegating)
    once_kms.put_key_policy(KeyId=key["Arn"], Policy=delegating,
                            BypassPolicyLockoutSafetyCheck=True)


def test_create_key_lockout_check(sim, kms):
    someone_else = policy_json({"Sid": "Other", "Effect": "Allow",
                                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/Other"},
                                "Action": "kms:*", "Resource": "*"})
    with pytest.raises(errors.ClientError) as info:
        kms.create_key(Policy=someone_else)
    assert (info.value.code, info.value.message) == ("MalformedPolicyDocumentException", LOCKOUT)
    md = kms.create_key(Policy=someone_else, BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    # With the check bypassed the root is locked out, as AWS warns.
    with pytest.raises(errors.AccessDeniedException):
        kms.get_key_policy(KeyId=md["KeyId"])
