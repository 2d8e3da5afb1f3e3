"""CreateKey, DescribeKey, ListKeys, key policies, tags, enable/disable."""

from __future__ import annotations

import json
import re

import pytest

from simulator import errors
from simulator.kms.keypolicy import default_policy
from tests.kms.conftest import ACCOUNT, APP_ROLE, OTHER, REGION, explanation_of


def test_create_key_defaults(kms):
    md = kms.create_key()["KeyMetadata"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        md["KeyId"])
    assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}"
    assert md["AWSAccountId"] == ACCOUNT
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["KeySpec"] == md["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert md["KeyState"] == "Enabled" and md["Enabled"] is True
    assert md["KeyManager"] == "CUSTOMER" and md["Origin"] == "AWS_KMS"
    assert md["MultiRegion"] is False
    assert re.fullmatch(r"[0-9a-f]{64}", md["CurrentKeyMaterialId"])
    assert "SigningAlgorithms" not in md


@pytest.mark.parametrize(
    ("spec", "usage", "member", "values"),
    [
        ("RSA_2048", "ENCRYPT_DECRYPT", "EncryptionAlgorithms",
         ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]),
        ("RSA_3072", "SIGN_VERIFY", "SigningAlgorithms", None),
        ("ECC_NIST_P256", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
        ("ECC_NIST_P384", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_384"]),
        ("ECC_NIST_P521", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_512"]),
        ("ECC_SECG_P256K1", "SIGN_VERIFY", "SigningAlgorithms", ["ECDSA_SHA_256"]),
        ("ECC_NIST_P256", "KEY_AGREEMENT", "KeyAgreementAlgorithms", ["ECDH"]),
        ("HMAC_224", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_224"]),
        ("HMAC_512", "GENERATE_VERIFY_MAC", "MacAlgorithms", ["HMAC_SHA_512"]),
    ],
)
def test_asymmetric_and_hmac_key_specs(kms, spec, usage, member, values):
    md = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    assert md["KeySpec"] == spec and md["KeyUsage"] == usage
    if values is not None:
        assert md[member] == values
    else:
        assert "RSASSA_PSS_SHA_256" in md[member]
    assert "CurrentKeyMaterialId" not in md
    if usage != "ENCRYPT_DECRYPT":
        assert "EncryptionAlgorithms" not in md


@pytest.mark.parametrize(
    ("spec", "usage"),
    [("HMAC_256", None), ("HMAC_256", "ENCRYPT_DECRYPT"), ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
     ("ECC_NIST_P256", "ENCRYPT_DECRYPT"), ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
     ("RSA_2048", "GENERATE_VERIFY_MAC")],
)
def test_key_usage_is_validated_against_key_spec(kms, spec, usage):
    params = {"KeySpec": spec}
    if usage:
        params["KeyUsage"] = usage
    with pytest.raises(errors.ValidationException) as info:
        kms.create_key(**params)
    assert info.value.message == (
        f"KeyUsage {usage} is not compatible with KeySpec {spec}" if usage else
        "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
    assert "valid key usages" in explanation_of(info.value)


def test_keyspec_and_legacy_spec_together_are_refused(kms):
    with pytest.raises(errors.ValidationException, match="CustomerMasterKeySpec"):
        kms.create_key(KeySpec="RSA_2048", CustomerMasterKeySpec="RSA_2048")
    md = kms.create_key(CustomerMasterKeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    assert md["KeySpec"] == "RSA_2048"


def test_multi_region_key(kms):
    md = kms.create_key(MultiRegion=True)["KeyMetadata"]
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", md["KeyId"])
    assert md["MultiRegion"] is True
    assert md["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": md["Arn"], "Region": REGION},
        "ReplicaKeys": [],
    }
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyId"] == md["KeyId"]


def test_external_origin_is_pending_import(kms):
    md = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert md["KeyState"] == "PendingImport" and md["Enabled"] is False
    with pytest.raises(errors.KMSInvalidStateException, match="pending import"):
        kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")


def test_unsupported_specs_and_key_stores(kms):
    with pytest.raises(errors.UnsupportedOperationException):
        kms.create_key(KeySpec="SM2", KeyUsage="SIGN_VERIFY")
    with pytest.raises(errors.UnsupportedOperationException):
        kms.create_key(Origin="AWS_CLOUDHSM")


def test_describe_key_accepts_every_identifier_and_always_has_key_usage(kms, key):
    kms.create_alias(AliasName="alias/storage", TargetKeyId=key["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/storage"
    for ref in (key["KeyId"], key["Arn"], "alias/storage", alias_arn):
        md = kms.describe_key(KeyId=ref)["KeyMetadata"]
        assert md["KeyId"] == key["KeyId"]
        assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    kms.disable_key(KeyId=key["KeyId"])
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT" and md["KeyState"] == "Disabled"


@pytest.mark.parametrize(
    ("ref", "needle"),
    [
        ("not-a-key", "Invalid keyId 'not-a-key'"),
        ("1234abcd-12ab-44cd-86ef-1234567890ab", "does not exist"),
        ("alias/nothing", "alias/nothing is not found"),
        (f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1234abcd-12ab-44cd-86ef-1234567890ab",
         "Invalid arn eu-west-1"),
    ],
)
def test_describe_key_not_found(kms, ref, needle):
    with pytest.raises(errors.NotFoundException) as info:
        kms.describe_key(KeyId=ref)
    assert needle in info.value.message


def test_bare_key_id_resolves_in_the_callers_account_only(sim, key):
    other = sim.client("kms", principal=OTHER)
    with pytest.raises(errors.NotFoundException):
        other.describe_key(KeyId=key["KeyId"])


def test_list_keys_is_per_account_and_paginates(sim, kms):
    ids = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(5)}
    sim.client("kms", principal=OTHER).create_key()
    page = kms.list_keys(Limit=2)
    assert page["Truncated"] is True and len(page["Keys"]) == 2
    seen = [k["KeyId"] for k in page["Keys"]]
    while page["Truncated"]:
        page = kms.list_keys(Limit=2, Marker=page["NextMarker"])
        seen += [k["KeyId"] for k in page["Keys"]]
    assert set(seen) == ids
    with pytest.raises(errors.ClientError) as info:
        kms.list_keys(Marker="bogus")
    assert info.value.code == "InvalidMarkerException"


def test_each_listings_limits_are_the_ones_its_api_page_documents():
    """LIST_LIMITS holds each operation's "between 1 and N" and "defaults to D" (botocore
    carries the API reference's text; its model says 1000 for every one)."""
    import botocore.session

    from simulator.kms.core import LIST_LIMITS

    model = botocore.session.get_session().get_service_model("kms")
    for operation, (default, maximum) in LIST_LIMITS.items():
        doc = model.operation_model(operation).input_shape.members["Limit"].documentation
        text = re.sub(r"<[^>]+>", "", doc)
        assert f"between 1 and {maximum}, inclusive" in text, operation
        assert f"defaults to {default}" in text, operation


def test_a_limit_above_the_maximum_returns_the_maximum_and_a_marker(sim, kms, key):
    """ListGrants documents 1-100: Limit=1000 gives 100 grants, Truncated, then the rest;
    no Limit gives the default 50."""
    ids = []
    for _ in range(120):
        sim.clock.advance(0.1)  # within CreateGrant's request-rate quota
        ids.append(kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE,
                                    Operations=["Decrypt"])["GrantId"])
    page = kms.list_grants(KeyId=key["KeyId"], Limit=1000)
    assert len(page["Grants"]) == 100 and page["Truncated"] is True
    rest = kms.list_grants(KeyId=key["KeyId"], Limit=1000, Marker=page["NextMarker"])
    assert len(rest["Grants"]) == 20 and rest["Truncated"] is False
    assert sorted(g["GrantId"] for g in page["Grants"] + rest["Grants"]) == sorted(ids)
    assert len(kms.list_grants(KeyId=key["KeyId"])["Grants"]) == 50


def test_default_key_policy_is_awss_document(kms, key):
    out = kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
    assert out["PolicyName"] == "default"
    assert out["Policy"] == default_policy(ACCOUNT)
    doc = json.loads(out["Policy"])
    assert doc["Statement"] == [{
        "Sid": "Enable IAM User Permissions", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*",
    }]
    assert kms.list_key_policies(KeyId=key["KeyId"])["PolicyNames"] == ["default"]
    with pytest.raises(errors.NotFoundException):
        kms.get_key_policy(KeyId=key["KeyId"], PolicyName="other")


def test_put_key_policy_round_trips_and_malformed_is_refused(kms, key):
    text = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "kms:*",
        "Resource": "*"}]})
    kms.put_key_policy(KeyId=key["KeyId"], Policy=text)
    assert kms.get_key_policy(KeyId=key["KeyId"])["Policy"] == text
    with pytest.raises(errors.ClientError) as info:
        kms.put_key_policy(KeyId=key["KeyId"], Policy='{"Statement": [{"Effect": "Allow"}]}')
    assert info.value.code == "MalformedPolicyDocumentException"
    # KMS's message for a document it cannot use is empty; the simulator says where and why
    assert info.value.message == "Policy contains a statement with one or more invalid principals."
    assert "Statement[0]" in info.value.explanation
    with pytest.raises(errors.ClientError) as info:
        kms.create_key(Policy="{not json")
    assert info.value.code == "MalformedPolicyDocumentException"
    assert info.value.message == ""
    assert "bad JSON" in info.value.explanation


def test_key_policy_statement_without_principal_is_malformed(kms):
    with pytest.raises(errors.ClientError) as info:
        kms.create_key(Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}))
    assert info.value.code == "MalformedPolicyDocumentException"
    assert info.value.message == "Policy contains a statement with one or more invalid principals."
    assert "missing Principal" in info.value.explanation


def test_aliases_are_not_accepted_where_aws_wants_a_key_id(kms, key):
    kms.create_alias(AliasName="alias/x", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.NotFoundException, match="Invalid keyId"):
        kms.get_key_policy(KeyId="alias/x")
    with pytest.raises(errors.NotFoundException, match="Invalid keyId"):
        kms.create_grant(KeyId="alias/x", GranteePrincipal=FARGATE_ROLE, Operations=["Decrypt"])


FARGATE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/App"


def test_tags(kms, key):
    kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "team", "TagValue": "storage"},
                                              {"TagKey": "env", "TagValue": "prod"}])
    tags = kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
    assert tags == [{"TagKey": "env", "TagValue": "prod"},
                    {"TagKey": "team", "TagValue": "storage"}]
    kms.untag_resource(KeyId=key["KeyId"], TagKeys=["env"])
    assert kms.list_resource_tags(KeyId=key["KeyId"])["Tags"] == [
        {"TagKey": "team", "TagValue": "storage"}]
    with pytest.raises(errors.ClientError) as info:
        kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "aws:x", "TagValue": "y"}])
    assert info.value.code == "TagException"
    md = kms.create_key(Tags=[{"TagKey": "a", "TagValue": "b"}])["KeyMetadata"]
    assert kms.list_resource_tags(KeyId=md["KeyId"])["Tags"] == [{"TagKey": "a", "TagValue": "b"}]


def test_update_key_description(kms, key):
    kms.update_key_description(KeyId=key["KeyId"], Description="new")
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Description"] == "new"


def test_enable_disable(kms, key):
    kms.disable_key(KeyId=key["KeyId"])
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("Disabled", False)
    kms.enable_key(KeyId=key["KeyId"])
    md = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (md["KeyState"], md["Enabled"]) == ("Enabled", True)


def test_audit_record_names_the_key_and_its_account(sim, kms, key):
    kms.describe_key(KeyId=key["KeyId"])
    rec = sim.audit_trail[-1]
    assert rec["eventName"] == "DescribeKey"
    assert rec["resources"] == [
        {"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": key["Arn"]}]
    assert rec["recipientAccountId"] == ACCOUNT
    assert rec["requestParameters"] == {"keyId": key["KeyId"]}
    assert rec["responseElements"] is None  # CloudTrail logs none for read-only KMS calls
    create = sim.audit_trail.filter("CreateKey")[-1]
    assert create["responseElements"]["keyMetadata"]["keyId"] == key["KeyId"]
    # a name that starts with an acronym keeps its capitals (ct-createkey.html)
    assert create["responseElements"]["keyMetadata"]["AWSAccountId"] == ACCOUNT


def test_list_aliases_walk_misses_no_alias_deleted_before_it_and_keeps_its_marker(kms, key):
    names = [f"alias/walk-{i}" for i in range(6)]
    for name in names:
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    page = kms.list_aliases(KeyId=key["KeyId"], Limit=2)
    seen = [a["AliasName"] for a in page["Aliases"]]
    kms.delete_alias(AliasName=seen[0])
    while page["Truncated"]:
        page = kms.list_aliases(KeyId=key["KeyId"], Limit=2, Marker=page["NextMarker"])
        seen += [a["AliasName"] for a in page["Aliases"]]
    assert seen == names
    marker = kms.list_aliases(KeyId=key["KeyId"], Limit=2)["NextMarker"]
    for name in names[1:]:
        kms.delete_alias(AliasName=name)
    last = kms.list_aliases(KeyId=key["KeyId"], Limit=2, Marker=marker)  # KMS gave it: valid
    assert last["Aliases"] == [] and last["Truncated"] is False
