"""Key material and plaintext data keys never appear in reprs, error messages or the audit trail."""

from __future__ import annotations

import base64
import json

import pytest

from simulator import errors
from tests.kms.conftest import APP_ROLE


def _forms(secret: bytes) -> list[str]:
    """The ways a secret could leak into text."""
    return [repr(secret), secret.hex(), base64.b64encode(secret).decode(),
            base64.urlsafe_b64encode(secret).decode().rstrip("=")]


def test_no_secret_in_reprs_audit_trail_or_errors(sim, kms, key):
    hmac_key = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    signing = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    kms.sign(KeyId=signing["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    kms.generate_mac(KeyId=hmac_key["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    secrets: list[bytes] = []
    dk = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"a": "b"})
    secrets.append(dk["Plaintext"])
    secrets.append(kms.decrypt(CiphertextBlob=dk["CiphertextBlob"],
                               EncryptionContext={"a": "b"})["Plaintext"])
    secrets.append(kms.generate_random(NumberOfBytes=32)["Plaintext"])
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"top-secret-plaintext")["CiphertextBlob"]
    kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=APP_ROLE, Operations=["Decrypt"])
    with pytest.raises(errors.InvalidCiphertextException) as info:
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"wrong": "context"})
    service = sim.service("kms")
    for k in service.keys.values():
        secrets.extend(m.secret for m in k.materials.values())
        if k.private_key is not None:
            secrets.append(k.private_key.private_numbers().private_value.to_bytes(32, "big"))
    assert len(secrets) == 7 and all(secrets)
    texts = [repr(service), repr(service.grants), repr(sim), str(info.value)]
    for k in service.keys.values():
        texts.append(repr(k))
        texts.extend(repr(m) for m in k.materials.values())
        texts.append(repr(k.metadata()))
    texts.append(json.dumps(list(sim.audit_trail), default=str))
    texts.append(repr(list(sim.audit_trail)))
    blob_text = "\n".join(texts)
    for secret in secrets:
        for form in _forms(secret):
            assert form not in blob_text
    assert "top-secret-plaintext" not in blob_text
    assert "private" not in " ".join(repr(k) for k in service.keys.values()).lower()


def test_plaintext_only_where_the_output_has_a_plaintext_member(kms, key):
    out = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=32)
    assert "Plaintext" not in out
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert "Plaintext" not in out
    out = kms.re_encrypt(CiphertextBlob=out["CiphertextBlob"], DestinationKeyId=key["KeyId"])
    assert "Plaintext" not in out
