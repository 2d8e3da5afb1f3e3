"""Grant tokens are bearer credentials: the audit trail never shows them."""

from __future__ import annotations

import json


def test_grant_tokens_stay_out_of_the_audit_trail(sim):
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    grantee = "arn:aws:iam::111122223333:role/reader"
    grant = kms.create_grant(KeyId=key, GranteePrincipal=grantee, Operations=["Decrypt"],
                             RetiringPrincipal="arn:aws:iam::111122223333:root")
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    sim.client("kms", principal=grantee).decrypt(CiphertextBlob=blob,
                                                 GrantTokens=[grant["GrantToken"]])
    kms.retire_grant(GrantToken=grant["GrantToken"])
    assert grant["GrantToken"] not in json.dumps(list(sim.audit_trail))
    retire = sim.audit_trail.filter("RetireGrant")[-1]
    assert retire["requestParameters"] is None
    assert retire["additionalEventData"]["grantId"] == grant["GrantId"]


def test_decrypt_record_names_the_algorithm_and_key_as_cloudtrail_does(sim):
    kms = sim.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"a": "b"})["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    enc, dec = sim.audit_trail[-2:]
    assert enc["requestParameters"]["encryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert dec["requestParameters"] == {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": key, "encryptionContext": {"a": "b"},
    }
    assert dec["responseElements"] is None
