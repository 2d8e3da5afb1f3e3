"""The admission table (``simulator.kms.admission.RULES``) and the order of its steps."""

from __future__ import annotations

import pytest

from simulator import Simulation, errors
from simulator.kms.admission import KEY_TYPE, OWN, RULES, takes_grant_tokens
from simulator.kms.quotas import OPERATION_QUOTAS
from simulator.kms.service import KmsService
from simulator.models import service_model
from tests.kms.conftest import ACCOUNT, make_role, policy_json, root_statement

MODEL = service_model("kms")
IMPLEMENTED = sorted(op for op in MODEL.operation_names if hasattr(KmsService, op))


def test_every_implemented_operation_has_one_row():
    rows = set(RULES) - {"ReEncryptFrom", "ReEncryptTo"}
    assert rows == set(IMPLEMENTED) - {"ReEncrypt"}


def test_grants_apply_to_the_grant_operations_of_botocores_model():
    # GrantOperation enum: the operations a grant can allow. CreateGrant and RetireGrant
    # consult grants themselves (delegation, the grantee retiring its grant).
    # Operations the simulator does not implement (Encapsulate, Decapsulate) have no row.
    enum = set(MODEL.shape_for("GrantOperation").enum) & set(RULES)
    with_grants = {op for op, rule in RULES.items() if rule.grants}
    assert with_grants == enum - {"CreateGrant", "RetireGrant"}


def test_own_quotas_have_a_rate_and_key_type_quotas_need_a_key():
    for op, rule in RULES.items():
        if rule.quota == OWN:
            assert op in OPERATION_QUOTAS, op
        if rule.quota == KEY_TYPE:
            assert rule.key is not None or op in ("Decrypt", "ReEncryptFrom"), op


@pytest.mark.parametrize("op", IMPLEMENTED)
def test_grant_tokens_follow_the_model(op):
    shape = MODEL.operation_model(op).input_shape
    assert takes_grant_tokens(op) == (shape is not None and "GrantTokens" in shape.members)


@pytest.mark.parametrize(
    ("op", "params"),
    [("Encrypt", {"Plaintext": b"x"}), ("DescribeKey", {}), ("EnableKeyRotation", {}),
     ("TagResource", {"Tags": [{"TagKey": "a", "TagValue": "b"}]}), ("GetKeyPolicy", {}),
     ("GenerateDataKeyWithoutPlaintext", {"NumberOfBytes": 64}), ("DisableKey", {}),
     ("UpdateKeyDescription", {"Description": "d"}), ("ScheduleKeyDeletion", {}),
     ("ListResourceTags", {}), ("GetKeyRotationStatus", {}), ("ListGrants", {}),
     ("RevokeGrant", {"GrantId": "0" * 64}),
     ("CreateGrant", {"GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:root",
                      "Operations": ["Decrypt"]})],
)
def test_a_refusal_names_kms_and_the_operation(sim, kms, key, op, params):
    stranger = sim.client("kms", principal=make_role(sim, "Stranger"))
    with pytest.raises(errors.AccessDeniedException) as info:
        stranger.call(op, {"KeyId": key["KeyId"], **params})
    assert f"not authorized to perform: kms:{op} on resource: {key['Arn']}" in (
        info.value.message)


def test_a_caller_without_permission_learns_nothing_of_the_key_state(sim, kms, key):
    kms.disable_key(KeyId=key["KeyId"])
    stranger = sim.client("kms", principal=make_role(sim, "Stranger"))
    with pytest.raises(errors.AccessDeniedException):
        stranger.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with pytest.raises(errors.DisabledException):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_state_comes_before_key_usage(kms):
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms.disable_key(KeyId=signing["KeyId"])
    with pytest.raises(errors.DisabledException):
        kms.encrypt(KeyId=signing["KeyId"], Plaintext=b"x")


def test_an_own_quota_is_drawn_before_the_key_is_looked_up():
    sim = Simulation(account_id=ACCOUNT)
    kms = sim.client("kms")
    sim.service("kms").quotas.set("DescribeKey", 1, 1)
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    with pytest.raises(errors.NotFoundException):
        kms.describe_key(KeyId=missing)
    with pytest.raises(errors.ThrottlingException):
        kms.describe_key(KeyId=missing)


def test_a_key_type_quota_is_drawn_after_the_key_is_found():
    sim = Simulation(account_id=ACCOUNT)
    kms = sim.client("kms")
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    sim.service("kms").quotas.set("CryptographicOperationsRsa", 1, 1)
    kms.sign(KeyId=rsa["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    with pytest.raises(errors.ThrottlingException):
        kms.sign(KeyId=rsa["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
    kms.encrypt(KeyId=kms.create_key()["KeyMetadata"]["KeyId"], Plaintext=b"x")  # symmetric


def test_aliases_resolve_only_where_the_table_says(kms, key):
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == key["KeyId"]
    with pytest.raises(errors.NotFoundException, match="Invalid keyId 'alias/app'"):
        kms.enable_key_rotation(KeyId="alias/app")


def test_decrypt_and_re_encrypt_by_alias_carry_the_request_alias(sim, kms):
    role = make_role(sim, "ByAlias")
    allow = {"Effect": "Allow", "Principal": {"AWS": role}, "Resource": "*",
             "Action": ["kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
             "Condition": {"StringEquals": {"kms:RequestAlias": "alias/app"}}}
    md = kms.create_key(Policy=policy_json(root_statement(), allow))["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=md["KeyId"])
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    client = sim.client("kms", principal=role)
    assert client.decrypt(CiphertextBlob=blob, KeyId="alias/app")["Plaintext"] == b"x"
    client.re_encrypt(CiphertextBlob=blob, SourceKeyId="alias/app", DestinationKeyId="alias/app")
    with pytest.raises(errors.AccessDeniedException):
        client.decrypt(CiphertextBlob=blob, KeyId=md["KeyId"])
