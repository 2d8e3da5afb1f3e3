"""Request-rate quotas on the simulated clock, and DryRun on every operation that has it."""

from __future__ import annotations

import pytest

from simulator import Simulation, errors
from simulator.kms.quotas import SYMMETRIC, symmetric_rate
from tests.kms.conftest import ACCOUNT, APP_ROLE, OTHER

THROTTLED = (
    "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
)


def test_default_rates():
    quotas = Simulation(region="us-west-2").service("kms").quotas
    assert quotas.rate("CreateGrant") == quotas.rate("RetireGrant") == 50
    assert quotas.rate("RevokeGrant") == 50 and quotas.rate("ListGrants") == 100
    assert quotas.rate("DescribeKey") == 2000
    assert quotas.rate(SYMMETRIC) == 100_000
    assert Simulation(region="ap-south-1").service("kms").quotas.rate(SYMMETRIC) == 10_000
    assert symmetric_rate("eu-west-1") == 100_000 and symmetric_rate("sa-east-1") == 10_000
    assert quotas.grants_per_key == 50_000


def test_create_grant_is_throttled_at_50_per_second(sim, kms, key):
    params = {"KeyId": key["KeyId"], "GranteePrincipal": APP_ROLE, "Operations": ["Decrypt"]}
    for _ in range(50):
        kms.create_grant(**params)
    with pytest.raises(errors.ThrottlingException) as info:
        kms.create_grant(**params)
    assert info.value.message == THROTTLED
    assert sim.audit_trail[-1]["errorCode"] == "ThrottlingException"
    sim.clock.advance(0.1)
    for _ in range(5):
        kms.create_grant(**params)
    with pytest.raises(errors.ThrottlingException):
        kms.create_grant(**params)


def test_quotas_are_per_account(sim, kms, key):
    sim.service("kms").quotas.set("DescribeKey", 2)
    kms.describe_key(KeyId=key["KeyId"])
    kms.describe_key(KeyId=key["KeyId"])
    with pytest.raises(errors.ThrottlingException):
        kms.describe_key(KeyId=key["KeyId"])
    other = sim.client("kms", principal=OTHER)
    other_key = other.create_key()["KeyMetadata"]
    other.describe_key(KeyId=other_key["KeyId"])


def test_shared_symmetric_quota_counts_services_acting_for_the_account(sim, kms, key):
    sim.service("kms").quotas.set(SYMMETRIC, 3)
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal="fargate.us-west-2.amazonaws.com",
                     Operations=["GenerateDataKeyWithoutPlaintext"])
    fargate = sim.client("kms", principal="fargate.us-west-2.amazonaws.com")
    fargate.generate_data_key_without_plaintext(KeyId=key["Arn"], NumberOfBytes=64)
    with pytest.raises(errors.ThrottlingException):  # the 4th symmetric request of the account
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    sim.clock.advance(1)
    kms.generate_random(NumberOfBytes=8)


def test_quotas_off():
    sim = Simulation(quotas=False, strict_shapes=True)
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]
    assert not sim.service("kms").quotas.enabled
    for _ in range(60):
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])


def test_throttling_comes_before_authorization(sim, key):
    sim.service("kms").quotas.set("DescribeKey", 1)
    stranger = sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/Nobody")
    with pytest.raises(errors.AccessDeniedException):
        stranger.describe_key(KeyId=key["Arn"])
    with pytest.raises(errors.ThrottlingException):
        stranger.describe_key(KeyId=key["Arn"])


# -- dry runs ---------------------------------------------------------------------------------
DRY = "The request would have succeeded, but the DryRun option is set."


def _dry_calls(kms, key, blob, grant):
    kid = key["KeyId"]
    return {
        "Encrypt": lambda: kms.encrypt(KeyId=kid, Plaintext=b"x", DryRun=True),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob, DryRun=True),
        "ReEncrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=kid,
                                            DryRun=True),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=kid, KeySpec="AES_256",
                                                         DryRun=True),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(
            KeyId=kid, NumberOfBytes=64, DryRun=True),
        "CreateGrant": lambda: kms.create_grant(KeyId=kid, GranteePrincipal=APP_ROLE,
                                                Operations=["Decrypt"], DryRun=True),
        "RetireGrant": lambda: kms.retire_grant(GrantToken=grant["GrantToken"], DryRun=True),
        "RevokeGrant": lambda: kms.revoke_grant(KeyId=kid, GrantId=grant["GrantId"],
                                                DryRun=True),
    }


def test_dry_run_of_a_request_that_would_succeed(sim, kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE,
                             Operations=["Decrypt"],
                             RetiringPrincipal=f"arn:aws:iam::{ACCOUNT}:root")
    for name, call in _dry_calls(kms, key, blob, grant).items():
        with pytest.raises(errors.DryRunOperationException) as info:
            call()
        assert info.value.message == DRY, name
        assert info.value.status == 400  # as AWS answers it (recorded), not 412
        assert sim.audit_trail[-1]["errorCode"] == "DryRunOperationException"
    # Nothing changed: still exactly one grant.
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 1


def test_dry_run_of_a_request_that_would_fail_answers_the_real_error(sim, kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    grant = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])
    kms.disable_key(KeyId=key["KeyId"])
    for name in ("Encrypt", "Decrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext"):
        with pytest.raises(errors.DisabledException):
            _dry_calls(kms, key, blob, grant)[name]()
    kms.enable_key(KeyId=key["KeyId"])
    stranger = sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/Nobody")
    for name, call in _dry_calls(stranger, key | {"KeyId": key["Arn"]}, blob, grant).items():
        with pytest.raises(errors.AccessDeniedException):
            call()
        assert name


def test_decrypt_dry_run_can_ignore_the_ciphertext(kms, key):
    with pytest.raises(errors.DryRunOperationException):
        kms.decrypt(CiphertextBlob=b"junk", KeyId=key["KeyId"], DryRun=True,
                    DryRunModifiers=["IGNORE_CIPHERTEXT"])
    with pytest.raises(errors.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=b"junk", DryRun=True)
