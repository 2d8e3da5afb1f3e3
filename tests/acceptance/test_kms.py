"""Issue 3: KMS keys, key policies, grants, envelope encryption."""

import base64
import json

import pytest

from simulator import Simulation
from simulator.errors import ClientError

from .conftest import ACCOUNT, ROOT

ROLE = f"arn:aws:iam::{ACCOUNT}:role/App"
STRANGER = f"arn:aws:iam::{ACCOUNT}:role/Stranger"
FARGATE = "fargate.amazonaws.com"
CTX = {"aws:ecs:clusterAccount": ACCOUNT, "aws:ecs:clusterName": "clusterName"}


def code_of(fn, *a, **kw):
    with pytest.raises(ClientError) as ei:
        fn(*a, **kw)
    e = ei.value
    assert e.response["Error"]["Code"] == e.code
    assert e.response["Error"]["Message"] == e.message
    return e.code


@pytest.fixture
def key(kms):
    return kms.create_key(Description="test")["KeyMetadata"]


# ---------------------------------------------------------------- keys and the default policy


def test_default_key_policy_is_root_kms_star(kms, key):
    r = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
    doc = json.loads(r["Policy"])
    sts = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
    assert any(
        s["Effect"] == "Allow"
        and s.get("Principal", {}).get("AWS") in (ROOT, [ROOT])
        and s["Action"] in ("kms:*", ["kms:*"])
        for s in sts
    )


def test_default_policy_lets_iam_policies_count(sim, key):
    iam = sim.client("iam")
    iam.create_role(
        RoleName="App",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )
    app = sim.client("kms", principal=ROLE)
    assert code_of(app.encrypt, KeyId=key["KeyId"], Plaintext=b"x") == "AccessDeniedException"
    iam.put_role_policy(
        RoleName="App",
        PolicyName="kms",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": key["Arn"]}],
            }
        ),
    )
    assert app.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]


def test_describe_key_metadata(kms, key):
    md = kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]
    for f in (
        "KeyId",
        "Arn",
        "AWSAccountId",
        "CreationDate",
        "Enabled",
        "KeyUsage",
        "KeyState",
        "KeySpec",
        "EncryptionAlgorithms",
        "MultiRegion",
        "KeyManager",
        "Origin",
    ):
        assert f in md, f
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT" and md["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["KeyState"] == "Enabled" and md["Enabled"] is True and md["AWSAccountId"] == ACCOUNT
    assert md["Arn"] == f"arn:aws:kms:us-west-2:{ACCOUNT}:key/{md['KeyId']}"


@pytest.mark.parametrize(
    "spec,usage",
    [
        ("RSA_2048", "ENCRYPT_DECRYPT"),
        ("ECC_NIST_P256", "SIGN_VERIFY"),
        ("HMAC_256", "GENERATE_VERIFY_MAC"),
    ],
)
def test_describe_key_always_has_key_usage(kms, spec, usage):
    k = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    md = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
    assert md["KeyUsage"] == usage and md["KeySpec"] == spec


def test_data_key_on_rsa_key_is_invalid_key_usage(kms):
    k = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert (
        code_of(kms.generate_data_key_without_plaintext, KeyId=k["KeyId"], NumberOfBytes=64)
        == "InvalidKeyUsageException"
    )


def test_describe_unknown_key_not_found(kms):
    assert (
        code_of(kms.describe_key, KeyId="1234abcd-12ab-34cd-56ef-1234567890ab")
        == "NotFoundException"
    )


# ---------------------------------------------------------------- ciphertext blob


def test_encrypt_decrypt_roundtrip_without_keyid(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret", EncryptionContext={"a": "1"})[
        "CiphertextBlob"
    ]
    r = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "1"})
    assert r["Plaintext"] == b"secret" and r["KeyId"] == key["Arn"]


def test_decrypt_with_other_key_is_incorrect_key(kms, key):
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"s")["CiphertextBlob"]
    assert (
        code_of(kms.decrypt, CiphertextBlob=blob, KeyId=other["KeyId"]) == "IncorrectKeyException"
    )


def test_wrong_or_missing_context_and_bitflip_invalid_ciphertext(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"s", EncryptionContext={"a": "1"})[
        "CiphertextBlob"
    ]
    assert (
        code_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"a": "2"})
        == "InvalidCiphertextException"
    )
    assert code_of(kms.decrypt, CiphertextBlob=blob) == "InvalidCiphertextException"
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    assert (
        code_of(kms.decrypt, CiphertextBlob=bytes(flipped), EncryptionContext={"a": "1"})
        == "InvalidCiphertextException"
    )


def test_encryption_context_separator_ambiguity(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"s", EncryptionContext={"a": "bc"})[
        "CiphertextBlob"
    ]
    assert (
        code_of(kms.decrypt, CiphertextBlob=blob, EncryptionContext={"ab": "c"})
        == "InvalidCiphertextException"
    )
    blob2 = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"s", EncryptionContext={"a": "b", "c": "d"})[
        "CiphertextBlob"
    ]
    assert code_of(kms.decrypt, CiphertextBlob=blob2, EncryptionContext={"a": "bc", "": "d"}) in (
        "InvalidCiphertextException",
        "ValidationException",
    )
    # order of keys does not matter
    assert (
        kms.decrypt(CiphertextBlob=blob2, EncryptionContext={"c": "d", "a": "b"})["Plaintext"]
        == b"s"
    )


def test_generate_data_key_sizes(kms, key):
    r = kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=64)
    assert len(r["Plaintext"]) == 64
    assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"] == r["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_128")["Plaintext"]) == 16
    w = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    assert "Plaintext" not in w and w["CiphertextBlob"]
    assert len(kms.decrypt(CiphertextBlob=w["CiphertextBlob"])["Plaintext"]) == 32
    for bad in (0, 1025):
        assert (
            code_of(kms.generate_data_key, KeyId=key["KeyId"], NumberOfBytes=bad)
            == "ValidationException"
        )


def test_rotation_keeps_old_ciphertexts(kms, key):
    old = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    new = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"new")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old)["Plaintext"] == b"old"
    assert kms.decrypt(CiphertextBlob=new)["Plaintext"] == b"new"


# ---------------------------------------------------------------- key state


def _crypto_ops(kms, key_id, blob):
    return {
        "Encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        "Decrypt": lambda: kms.decrypt(CiphertextBlob=blob),
        "GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        "GenerateDataKeyWithoutPlaintext": lambda: kms.generate_data_key_without_plaintext(
            KeyId=key_id, NumberOfBytes=64
        ),
        "ReEncrypt": lambda: kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key_id),
    }


def test_disabled_key_refuses_every_crypto_op(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "Disabled" and md["Enabled"] is False
    for name, op in _crypto_ops(kms, key["KeyId"], blob).items():
        with pytest.raises(ClientError) as ei:
            op()
        assert ei.value.code == "DisabledException", name
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_pending_deletion_is_invalid_state(sim, kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    r = kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert r["KeyState"] == "PendingDeletion" and r["PendingWindowInDays"] == 7
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion" and "DeletionDate" in md
    for name, op in _crypto_ops(kms, key["KeyId"], blob).items():
        with pytest.raises(ClientError) as ei:
            op()
        assert ei.value.code == "KMSInvalidStateException", name


@pytest.mark.parametrize("days", [6, 31])
def test_deletion_window_bounds(kms, key, days):
    assert (
        code_of(kms.schedule_key_deletion, KeyId=key["KeyId"], PendingWindowInDays=days)
        == "ValidationException"
    )


def test_cancel_key_deletion_leaves_key_disabled(kms, key):
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=30)
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyState"] == "Disabled"  # AWS: a canceled key is Disabled until enabled


def test_deletion_window_destroys_material_on_sim_clock(sim, kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    sim.clock.advance(6 * 86400)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    sim.clock.advance(2 * 86400)
    assert code_of(kms.describe_key, KeyId=key["KeyId"]) == "NotFoundException"
    assert code_of(kms.decrypt, CiphertextBlob=blob) in (
        "NotFoundException",
        "InvalidCiphertextException",
    )


# ---------------------------------------------------------------- aliases


def test_alias_name_and_arn_usable(kms, key):
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    alias_arn = f"arn:aws:kms:us-west-2:{ACCOUNT}:alias/app"
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == key["KeyId"]
    blob = kms.encrypt(KeyId=alias_arn, Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId="alias/app")["Plaintext"] == b"x"
    names = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert "alias/app" in names
    kms.delete_alias(AliasName="alias/app")
    assert code_of(kms.describe_key, KeyId="alias/app") == "NotFoundException"


def test_alias_must_start_with_alias_prefix(kms, key):
    assert code_of(kms.create_alias, AliasName="app", TargetKeyId=key["KeyId"]) in (
        "ValidationException",
        "InvalidAliasNameException",
    )


# ---------------------------------------------------------------- grants


def test_decrypt_gated_by_grant(kms, key, sim):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    app = sim.client("kms", principal=ROLE)
    assert code_of(app.decrypt, CiphertextBlob=blob) == "AccessDeniedException"
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt"])
    assert g["GrantId"] and g["GrantToken"]
    assert app.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    # the grant allows only Decrypt
    assert code_of(app.encrypt, KeyId=key["KeyId"], Plaintext=b"y") == "AccessDeniedException"
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=g["GrantId"])
    assert code_of(app.decrypt, CiphertextBlob=blob) == "AccessDeniedException"


def test_grant_constraints(kms, key, sim):
    kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=ROLE,
        Operations=["Decrypt", "DescribeKey"],
        Constraints={"EncryptionContextSubset": {"team": "a"}},
    )
    app = sim.client("kms", principal=ROLE)
    ok = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"team": "a", "x": "1"})[
        "CiphertextBlob"
    ]
    bad = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"team": "b"})[
        "CiphertextBlob"
    ]
    assert (
        app.decrypt(CiphertextBlob=ok, EncryptionContext={"team": "a", "x": "1"})["Plaintext"]
        == b"x"
    )
    assert (
        code_of(app.decrypt, CiphertextBlob=bad, EncryptionContext={"team": "b"})
        == "AccessDeniedException"
    )
    # constraints do not apply to DescribeKey
    assert app.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyId"] == key["KeyId"]


def test_grant_equals_constraint(kms, key, sim):
    kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=ROLE,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextEquals": {"team": "a"}},
    )
    app = sim.client("kms", principal=ROLE)
    sup = kms.encrypt(
        KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"team": "a", "x": "1"}
    )["CiphertextBlob"]
    assert (
        code_of(app.decrypt, CiphertextBlob=sup, EncryptionContext={"team": "a", "x": "1"})
        == "AccessDeniedException"
    )


@pytest.mark.parametrize("ops", [["Sign"], ["Decrypt", "Teleport"]])
def test_grant_operations_validated(kms, key, ops):
    assert (
        code_of(kms.create_grant, KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=ops)
        == "ValidationException"
    )


def test_grant_name_idempotent(kms, key):
    a = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt"], Name="n"
    )
    b = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt"], Name="n"
    )
    assert a["GrantId"] == b["GrantId"]
    grants = kms.list_grants(KeyId=key["KeyId"])["Grants"]
    assert (
        len(grants) == 1
        and grants[0]["Operations"] == ["Decrypt"]
        and grants[0]["GranteePrincipal"] == ROLE
    )


def test_retire_grant_by_stranger_refused_by_retiring_principal_ok(kms, key, sim):
    retirer = f"arn:aws:iam::{ACCOUNT}:role/Retirer"
    g = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt"], RetiringPrincipal=retirer
    )
    stranger = sim.client("kms", principal=STRANGER)
    assert code_of(stranger.retire_grant, GrantToken=g["GrantToken"]) == "AccessDeniedException"
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 1
    sim.client("kms", principal=retirer).retire_grant(KeyId=key["Arn"], GrantId=g["GrantId"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_list_retirable_grants(kms, key):
    retirer = f"arn:aws:iam::{ACCOUNT}:role/Retirer"
    g = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt"], RetiringPrincipal=retirer
    )
    r = kms.list_retirable_grants(RetiringPrincipal=retirer)
    assert [x["GrantId"] for x in r["Grants"]] == [g["GrantId"]]


# ---------------------------------------------------------------- DryRun


def test_dry_run_success_and_real_error(kms, key):
    assert (
        code_of(
            kms.generate_data_key_without_plaintext,
            KeyId=key["KeyId"],
            NumberOfBytes=64,
            DryRun=True,
        )
        == "DryRunOperationException"
    )
    assert (
        code_of(
            kms.create_grant,
            KeyId=key["KeyId"],
            GranteePrincipal=ROLE,
            Operations=["Decrypt"],
            DryRun=True,
        )
        == "DryRunOperationException"
    )
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []  # dry run created nothing
    kms.disable_key(KeyId=key["KeyId"])
    assert (
        code_of(
            kms.generate_data_key_without_plaintext,
            KeyId=key["KeyId"],
            NumberOfBytes=64,
            DryRun=True,
        )
        == "DisabledException"
    )


def test_dry_run_message(kms, key):
    with pytest.raises(ClientError) as ei:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)
    assert ei.value.code == "DryRunOperationException"
    assert "DryRun" in ei.value.message and "would have succeeded" in ei.value.message


# ---------------------------------------------------------------- lockout, malformed policy


def test_lockout_check(kms):
    lockout = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROLE},
                "Action": "kms:Decrypt",
                "Resource": "*",
            }
        ],
    }
    assert code_of(kms.create_key, Policy=json.dumps(lockout)) == "MalformedPolicyDocumentException"
    k = kms.create_key(Policy=json.dumps(lockout), BypassPolicyLockoutSafetyCheck=True)[
        "KeyMetadata"
    ]
    assert k["KeyState"] == "Enabled"
    k2 = kms.create_key()["KeyMetadata"]
    assert (
        code_of(
            kms.put_key_policy, KeyId=k2["KeyId"], PolicyName="default", Policy=json.dumps(lockout)
        )
        == "MalformedPolicyDocumentException"
    )


def test_malformed_key_policy(kms):
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": ROOT},
                "Action": "kms:*",
                "Resource": "*",
                "Condition": {"StringEqual": {"kms:CallerAccount": ACCOUNT}},
            }
        ],
    }
    with pytest.raises(ClientError) as ei:
        kms.create_key(Policy=json.dumps(bad))
    assert ei.value.code == "MalformedPolicyDocumentException"
    assert ei.value.message == ""  # KMS says no more than its code for a malformed document
    assert "StringEqual" in ei.value.explanation


# ---------------------------------------------------------------- the seed's key policy


def test_seed_fargate_calls_with_right_and_wrong_context(kms, seed_key, sim):
    fg = sim.client("kms", principal=FARGATE)
    r = fg.generate_data_key_without_plaintext(
        KeyId=seed_key["Arn"], NumberOfBytes=64, EncryptionContext=CTX
    )
    assert r["CiphertextBlob"] and "Plaintext" not in r
    wrong_cluster = dict(CTX, **{"aws:ecs:clusterName": "other"})
    wrong_account = dict(CTX, **{"aws:ecs:clusterAccount": "444455556666"})
    for ctx in (wrong_cluster, wrong_account, {}):
        assert (
            code_of(
                fg.generate_data_key_without_plaintext,
                KeyId=seed_key["Arn"],
                NumberOfBytes=64,
                EncryptionContext=ctx,
            )
            == "AccessDeniedException"
        )
    # the seed policy does not allow Fargate to call GenerateDataKey (plaintext)
    assert (
        code_of(
            fg.generate_data_key, KeyId=seed_key["Arn"], NumberOfBytes=64, EncryptionContext=CTX
        )
        == "AccessDeniedException"
    )


def test_seed_grant_decrypt_only(seed_key, sim):
    fg = sim.client("kms", principal=FARGATE)
    grantee = "fargate.us-west-2.amazonaws.com"
    kw = dict(
        KeyId=seed_key["Arn"],
        GranteePrincipal=grantee,
        Constraints={"EncryptionContextSubset": CTX},
        RetiringPrincipal="ec2.us-west-2.amazonaws.com",
    )
    assert fg.create_grant(Operations=["Decrypt"], **kw)["GrantId"]
    assert (
        code_of(fg.create_grant, Operations=["Decrypt", "Encrypt"], **kw) == "AccessDeniedException"
    )


def test_access_denied_message_explains(seed_key, sim):
    fg = sim.client("kms", principal=FARGATE)
    with pytest.raises(ClientError) as ei:
        fg.generate_data_key_without_plaintext(
            KeyId=seed_key["Arn"],
            NumberOfBytes=64,
            EncryptionContext=dict(CTX, **{"aws:ecs:clusterName": "other"}),
        )
    assert "kms:GenerateDataKeyWithoutPlaintext" in ei.value.message


def test_other_account_principal_denied(seed_key, sim):
    other = sim.client("kms", principal="arn:aws:iam::444455556666:root")
    assert code_of(other.describe_key, KeyId=seed_key["Arn"]) == "AccessDeniedException"


# ---------------------------------------------------------------- quotas


def test_create_grant_quota_throttles():
    sim = Simulation()
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _i in range(50):
        kms.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Decrypt"])
    with pytest.raises(ClientError) as ei:
        for _i in range(10):
            kms.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Decrypt"])
    assert ei.value.code == "ThrottlingException"
    assert "rate" in ei.value.message.lower()
    sim.clock.advance(2)
    kms.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Decrypt"])


def test_quotas_can_be_switched_off():
    sim = Simulation(quotas=False)
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    for _i in range(80):
        kms.create_grant(KeyId=key, GranteePrincipal=ROLE, Operations=["Decrypt"])


# ---------------------------------------------------------------- audit trail


def test_audit_trail_records_and_has_no_secrets(sim, kms, key):
    r = kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=32, EncryptionContext={"k": "v"})
    pt = r["Plaintext"]
    d = kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext={"k": "v"})
    assert d["Plaintext"] == pt
    blob = repr(sim.audit_trail) + json.dumps(sim.audit_trail, default=str)
    for form in (pt.hex(), base64.b64encode(pt).decode(), repr(pt)):
        assert form not in blob
    names = [e["eventName"] for e in sim.audit_trail]
    assert names[-2:] == ["GenerateDataKey", "Decrypt"]
    ev = sim.audit_trail[-1]
    for f in ("eventTime", "eventSource", "eventName", "userIdentity", "requestParameters"):
        assert f in ev
    assert ev["eventSource"] == "kms.amazonaws.com"
    assert ev["requestParameters"]["encryptionContext"] == {"k": "v"}


def test_audit_trail_records_errors(sim, kms, key):
    kms.disable_key(KeyId=key["KeyId"])
    with pytest.raises(ClientError):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    ev = sim.audit_trail[-1]
    assert ev["eventName"] == "Encrypt" and ev["errorCode"] == "DisabledException"
    assert ev.get("errorMessage")


def test_exceptions_reachable_on_client(kms):
    with pytest.raises(kms.exceptions.NotFoundException):
        kms.describe_key(KeyId="alias/nope")


def test_grantee_may_retire_when_grant_includes_retire_grant(kms, key, sim):
    g = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt", "RetireGrant"]
    )
    sim.client("kms", principal=ROLE).retire_grant(KeyId=key["Arn"], GrantId=g["GrantId"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_grantee_without_retire_operation_refused(kms, key, sim):
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt"])
    with pytest.raises(ClientError) as ei:
        sim.client("kms", principal=ROLE).retire_grant(KeyId=key["Arn"], GrantId=g["GrantId"])
    assert ei.value.code == "AccessDeniedException"


def test_grant_token_usable_immediately(kms, key, sim):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt"])
    app = sim.client("kms", principal=ROLE)
    assert app.decrypt(CiphertextBlob=blob, GrantTokens=[g["GrantToken"]])["Plaintext"] == b"x"
    with pytest.raises(ClientError) as ei:
        app.decrypt(CiphertextBlob=blob, GrantTokens=["not-a-token"])
    assert ei.value.code == "InvalidGrantTokenException"


def test_explicit_deny_in_key_policy_beats_grant(kms, sim):
    pol = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ROOT}, "Action": "kms:*", "Resource": "*"},
            {
                "Effect": "Deny",
                "Principal": {"AWS": ROLE},
                "Action": "kms:Decrypt",
                "Resource": "*",
            },
        ],
    }
    k = kms.create_key(Policy=json.dumps(pol))["KeyMetadata"]
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=ROLE, Operations=["Decrypt"])
    with pytest.raises(ClientError) as ei:
        sim.client("kms", principal=ROLE).decrypt(CiphertextBlob=blob)
    assert ei.value.code == "AccessDeniedException"
