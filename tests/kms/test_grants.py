"""Grants: what they allow, their constraints, Name idempotency, retiring and revoking."""

from __future__ import annotations

import re

import pytest

from simulator import errors
from tests.kms.conftest import ACCOUNT, APP_ROLE, OTHER, STRANGER, make_role


@pytest.fixture
def app(sim):
    """A role with no IAM policies: only grants (or the key policy naming it) let it in."""
    make_role(sim, "App")
    return sim.client("kms", principal=APP_ROLE)


@pytest.fixture
def blob(kms, key):
    return kms.encrypt(KeyId=key["KeyId"], Plaintext=b"data", EncryptionContext={"t": "1"})[
        "CiphertextBlob"]


def test_decrypt_refused_without_a_grant_and_allowed_with_one(kms, key, app, blob):
    with pytest.raises(errors.AccessDeniedException) as info:
        app.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})
    assert info.value.message.startswith(
        f"User: {APP_ROLE} is not authorized to perform: kms:Decrypt on the resource "
        "associated with this ciphertext because no identity-based policy allows the "
        "kms:Decrypt action"
    )
    out = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])
    assert re.fullmatch(r"[0-9a-f]{64}", out["GrantId"]) and out["GrantToken"]
    assert app.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})["Plaintext"] == b"data"
    # The grant allows Decrypt only.
    with pytest.raises(errors.AccessDeniedException):
        app.encrypt(KeyId=key["Arn"], Plaintext=b"x")


def test_grant_for_a_service_principal(sim, kms, key, blob):
    svc = sim.client("kms", principal="fargate.us-west-2.amazonaws.com")
    with pytest.raises(errors.AccessDeniedException) as info:
        svc.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})
    assert info.value.message.startswith("Service: fargate.us-west-2.amazonaws.com is not auth")
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal="fargate.us-west-2.amazonaws.com",
                     Operations=["Decrypt"])
    assert svc.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})["Plaintext"] == b"data"


def test_subset_constraint(kms, key, app):
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE,
                     Operations=["Encrypt", "Decrypt"],
                     Constraints={"EncryptionContextSubset": {"team": "a"}})
    blob = app.encrypt(KeyId=key["Arn"], Plaintext=b"x",
                       EncryptionContext={"team": "a", "extra": "ok"})["CiphertextBlob"]
    assert app.decrypt(CiphertextBlob=blob, EncryptionContext={"team": "a", "extra": "ok"})
    for ctx in ({"team": "b"}, {"other": "a"}, {}):
        with pytest.raises(errors.AccessDeniedException) as info:
            app.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext=ctx)
        assert "constraint" in " ".join(info.value.details["evaluation"]["grants"])


def test_equals_constraint(kms, key, app):
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Encrypt"],
                     Constraints={"EncryptionContextEquals": {"team": "a"}})
    app.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"team": "a"})
    with pytest.raises(errors.AccessDeniedException):
        app.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext={"team": "a", "x": "y"})


def test_constraints_do_not_restrict_describe_key_or_retire_grant(kms, key, app):
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE,
                         Operations=["Decrypt", "DescribeKey", "RetireGrant"],
                         Constraints={"EncryptionContextEquals": {"team": "a"}})
    assert app.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    app.retire_grant(GrantToken=g["GrantToken"])
    with pytest.raises(errors.AccessDeniedException):
        app.describe_key(KeyId=key["Arn"])


def test_name_makes_create_grant_idempotent(kms, key):
    params = {"KeyId": key["KeyId"], "GranteePrincipal": APP_ROLE, "Operations": ["Decrypt"],
              "Name": "task-1"}
    a, b = kms.create_grant(**params), kms.create_grant(**params)
    assert a["GrantId"] == b["GrantId"] and a["GrantToken"] != b["GrantToken"]
    c = kms.create_grant(**{**params, "Operations": ["Decrypt", "Encrypt"]})
    assert c["GrantId"] != a["GrantId"]
    d = kms.create_grant(**{k: v for k, v in params.items() if k != "Name"})
    assert d["GrantId"] != a["GrantId"]
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 3


def test_list_grants_with_filters(kms, key):
    g1 = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"],
                          RetiringPrincipal=STRANGER, Name="one",
                          Constraints={"EncryptionContextSubset": {"a": "1"}})
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=STRANGER, Operations=["Encrypt"])
    grants = kms.list_grants(KeyId=key["Arn"])["Grants"]
    assert len(grants) == 2
    first = kms.list_grants(KeyId=key["KeyId"], GrantId=g1["GrantId"])["Grants"]
    assert first == [{
        "KeyId": key["Arn"], "GrantId": g1["GrantId"], "Name": "one",
        "CreationDate": first[0]["CreationDate"], "GranteePrincipal": APP_ROLE,
        "RetiringPrincipal": STRANGER, "IssuingAccount": f"arn:aws:iam::{ACCOUNT}:root",
        "Operations": ["Decrypt"], "Constraints": {"EncryptionContextSubset": {"a": "1"}},
    }]
    by_grantee = kms.list_grants(KeyId=key["KeyId"], GranteePrincipal=STRANGER)["Grants"]
    assert [g["Operations"] for g in by_grantee] == [["Encrypt"]]
    page = kms.list_grants(KeyId=key["KeyId"], Limit=1)
    assert page["Truncated"] is True and len(page["Grants"]) == 1
    with pytest.raises(errors.InvalidGrantIdException):
        kms.list_grants(KeyId=key["KeyId"], GrantId="nope")


def test_list_retirable_grants(kms, key):
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"],
                     RetiringPrincipal="ec2.us-west-2.amazonaws.com")
    out = kms.list_retirable_grants(RetiringPrincipal="ec2.us-west-2.amazonaws.com")
    assert [g["GranteePrincipal"] for g in out["Grants"]] == [APP_ROLE]
    assert kms.list_retirable_grants(RetiringPrincipal=STRANGER)["Grants"] == []


def test_retire_grant_by_the_retiring_principal(sim, kms, key, app, blob):
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"],
                         RetiringPrincipal="ec2.us-west-2.amazonaws.com")
    ec2 = sim.client("kms", principal="ec2.us-west-2.amazonaws.com")
    ec2.retire_grant(KeyId=key["Arn"], GrantId=g["GrantId"])
    assert sim.audit_trail[-1]["additionalEventData"] == {"grantId": g["GrantId"]}
    with pytest.raises(errors.AccessDeniedException):
        app.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})
    with pytest.raises(errors.NotFoundException):
        ec2.retire_grant(KeyId=key["Arn"], GrantId=g["GrantId"])


def test_retire_grant_refused_to_a_stranger(sim, kms, key):
    make_role(sim, "Stranger", {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"],
                         RetiringPrincipal="ec2.us-west-2.amazonaws.com")
    # The stranger's IAM policy allows kms:*, but a key policy that does not delegate to IAM
    # (here: only the retiring principal and the root) leaves it out.
    kms.put_key_policy(KeyId=key["KeyId"], Policy=(
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":'
        f'"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:PutKeyPolicy","Resource":"*"}}]}}'
    ))
    stranger = sim.client("kms", principal=STRANGER)
    with pytest.raises(errors.AccessDeniedException) as info:
        stranger.retire_grant(GrantToken=g["GrantToken"])
    assert "kms:RetireGrant" in info.value.message
    assert any("retiring principal" in line
               for line in info.value.details["evaluation"]["explanation"])
    # The grantee cannot retire either: the grant does not include RetireGrant.
    with pytest.raises(errors.AccessDeniedException):
        sim.client("kms", principal=APP_ROLE).retire_grant(GrantToken=g["GrantToken"])
    assert len(sim.service("kms").grants.for_key(key["KeyId"])) == 1


def test_grantee_may_retire_when_the_grant_allows_it(sim, kms, key):
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE,
                         Operations=["Decrypt", "RetireGrant"])
    sim.client("kms", principal=APP_ROLE).retire_grant(KeyId=key["KeyId"], GrantId=g["GrantId"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_key_policy_may_allow_retire_grant(sim, kms, key):
    make_role(sim, "Janitor", {"Effect": "Allow", "Action": "kms:RetireGrant", "Resource": "*"})
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])
    sim.client("kms", principal=f"arn:aws:iam::{ACCOUNT}:role/Janitor").retire_grant(
        GrantToken=g["GrantToken"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []


def test_retire_grant_needs_a_token_or_key_and_grant_id(kms, key):
    with pytest.raises(errors.ValidationException):
        kms.retire_grant(GrantId="a" * 64)
    with pytest.raises(errors.InvalidGrantTokenException):
        kms.retire_grant(GrantToken="forged-token")
    with pytest.raises(errors.InvalidGrantIdException):
        kms.retire_grant(KeyId=key["KeyId"], GrantId="not-hex")


def test_forged_grant_tokens_are_refused(kms, key):
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])
    token = g["GrantToken"]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(errors.InvalidGrantTokenException):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[forged])
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", GrantTokens=[token])


def test_revoke_grant(sim, kms, key, app, blob):
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])
    with pytest.raises(errors.AccessDeniedException):
        app.revoke_grant(KeyId=key["KeyId"], GrantId=g["GrantId"])
    kms.revoke_grant(KeyId=key["KeyId"], GrantId=g["GrantId"])
    with pytest.raises(errors.AccessDeniedException):
        app.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})
    with pytest.raises(errors.NotFoundException):
        kms.revoke_grant(KeyId=key["KeyId"], GrantId=g["GrantId"])


@pytest.mark.parametrize(
    ("spec", "usage", "ops", "needle"),
    [
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["Sign"], "['Sign']"),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["Decrypt", "GenerateMac"], "['GenerateMac']"),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT", ["GetPublicKey"], "['GetPublicKey']"),
        ("RSA_2048", "SIGN_VERIFY", ["Decrypt"], "['Decrypt']"),
        ("ECC_NIST_P256", "SIGN_VERIFY", ["GenerateDataKey"], "['GenerateDataKey']"),
        ("HMAC_256", "GENERATE_VERIFY_MAC", ["Verify"], "['Verify']"),
    ],
)
def test_grant_operations_must_fit_the_key(kms, spec, usage, ops, needle):
    md = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    with pytest.raises(errors.ValidationException) as info:
        kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=APP_ROLE, Operations=ops)
    assert needle in info.value.message and "not valid" in info.value.message


def test_grant_operation_enum_and_only_create_grant(kms, key):
    with pytest.raises(errors.ValidationException, match="enum value set"):
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["ListKeys"])
    with pytest.raises(errors.ValidationException, match="only the CreateGrant"):
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["CreateGrant"])


def test_constraints_need_symmetric_keys_and_context_operations(kms, key):
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(errors.ValidationException, match="symmetric encryption"):
        kms.create_grant(KeyId=rsa["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Sign"],
                         Constraints={"EncryptionContextSubset": {"a": "b"}})
    with pytest.raises(errors.ValidationException, match="encryption context"):
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE,
                         Operations=["DescribeKey"],
                         Constraints={"EncryptionContextSubset": {"a": "b"}})


def test_invalid_grantee_principal(kms, key):
    with pytest.raises(errors.InvalidArnException, match="valid principal"):
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal="nobody", Operations=["Decrypt"])


def test_grants_per_key_quota(sim, kms, key):
    sim.service("kms").quotas.grants_per_key = 3
    for i in range(3):
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"],
                         Name=f"g{i}")
    with pytest.raises(errors.LimitExceededException, match="grants"):
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])
    # An identical named request returns the existing grant even at the quota.
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"],
                     Name="g0")


def test_grant_with_create_grant_delegates_a_subset(sim, kms, key, app):
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE,
                     Operations=["Decrypt", "Encrypt", "CreateGrant"],
                     Constraints={"EncryptionContextSubset": {"team": "a"}})
    # Fewer operations and a constraint at least as strict: allowed.
    app.create_grant(KeyId=key["Arn"], GranteePrincipal=STRANGER, Operations=["Decrypt"],
                     Constraints={"EncryptionContextSubset": {"team": "a", "task": "1"}})
    # More operations, or a weaker constraint: refused.
    with pytest.raises(errors.AccessDeniedException):
        app.create_grant(KeyId=key["Arn"], GranteePrincipal=STRANGER,
                         Operations=["Decrypt", "GenerateDataKey"],
                         Constraints={"EncryptionContextSubset": {"team": "a"}})
    with pytest.raises(errors.AccessDeniedException):
        app.create_grant(KeyId=key["Arn"], GranteePrincipal=STRANGER, Operations=["Decrypt"])


def test_cross_account_grantee_needs_no_identity_policy(sim, kms, key, blob):
    other_role = f"arn:aws:iam::{OTHER}:role/Reader"
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=other_role, Operations=["Decrypt"])
    reader = sim.client("kms", principal=other_role)
    assert reader.decrypt(CiphertextBlob=blob, EncryptionContext={"t": "1"})["Plaintext"] == (
        b"data")


def test_create_grant_audit_logs_only_the_grant_id(sim, kms, key):
    g = kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])
    rec = sim.audit_trail[-1]
    # CloudTrail adds the key's ARN (ct-creategrant: "recorded on or after December 2022").
    assert rec["responseElements"] == {"grantId": g["GrantId"], "keyId": key["Arn"]}
    assert rec["requestParameters"]["operations"] == ["Decrypt"]


def _optional(operation, member):
    from simulator.models import service_model

    shape = service_model("kms").operation_model(operation).input_shape
    if member in shape.required_members:
        pytest.skip(f"the installed botocore still requires {operation}.{member}")


def test_list_retirable_grants_needs_exactly_one_retiring_principal(kms):
    """botocore 1.44 made RetiringPrincipal optional; KMS still needs one of the two."""
    _optional("ListRetirableGrants", "RetiringPrincipal")
    with pytest.raises(errors.ValidationException) as info:
        kms.list_retirable_grants()
    assert info.value.message == (
        "You must specify either RetiringPrincipal or RetiringServicePrincipal, but not both."
    )


def test_create_grant_needs_a_grantee(kms, key):
    _optional("CreateGrant", "GranteePrincipal")
    with pytest.raises(errors.ValidationException) as info:
        kms.create_grant(KeyId=key["KeyId"], Operations=["Decrypt"])
    assert info.value.message == (
        "You must specify either GranteePrincipal or GranteeServicePrincipal, but not both."
    )


def test_a_grant_without_a_name_lists_with_an_empty_name(kms, key):
    """As the AWS CLI's list-retirable-grants example shows: "Name": "" when none was given."""
    root = f"arn:aws:iam::{ACCOUNT}:root"
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"],
                     RetiringPrincipal=root)
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Encrypt"],
                     Name="named")
    names = {tuple(g["Operations"]): g["Name"]
             for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]}
    assert names == {("Decrypt",): "", ("Encrypt",): "named"}
    retirable = kms.list_retirable_grants(RetiringPrincipal=root)["Grants"]
    assert [g["Name"] for g in retirable] == [""]
