"""Sign/Verify, GenerateMac/VerifyMac, GetPublicKey; alias management."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from simulator import errors
from tests.kms.conftest import ACCOUNT, OTHER, REGION, explanation_of


def test_ecdsa_sign_verify_with_an_independent_check(kms):
    md = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    sig = kms.sign(KeyId=md["KeyId"], Message=b"hello", SigningAlgorithm="ECDSA_SHA_256")
    assert sig["SigningAlgorithm"] == "ECDSA_SHA_256" and sig["KeyId"] == md["Arn"]
    pub = kms.get_public_key(KeyId=md["KeyId"])
    assert pub["KeyUsage"] == "SIGN_VERIFY" and pub["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    public = serialization.load_der_public_key(pub["PublicKey"])
    public.verify(sig["Signature"], b"hello", ec.ECDSA(hashes.SHA256()))
    ok = kms.verify(KeyId=md["KeyId"], Message=b"hello", Signature=sig["Signature"],
                    SigningAlgorithm="ECDSA_SHA_256")
    assert ok["SignatureValid"] is True
    with pytest.raises(errors.ClientError) as info:
        kms.verify(KeyId=md["KeyId"], Message=b"other", Signature=sig["Signature"],
                   SigningAlgorithm="ECDSA_SHA_256")
    assert info.value.code == "KMSInvalidSignatureException"


def test_rsa_pss_sign_digest(kms):
    md = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    digest = hashlib.sha256(b"msg").digest()
    sig = kms.sign(KeyId=md["KeyId"], Message=digest, MessageType="DIGEST",
                   SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=md["KeyId"])["PublicKey"])
    public.verify(sig, b"msg", padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
                  hashes.SHA256())
    with pytest.raises(errors.InvalidKeyUsageException):
        kms.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(errors.ValidationException):
        kms.sign(KeyId=md["KeyId"], Message=b"short", MessageType="DIGEST",
                 SigningAlgorithm="RSASSA_PSS_SHA_256")


def test_external_mu_is_refused_for_rsa_and_ecc_keys(kms):
    """EXTERNAL_MU is ML-DSA's 64-byte mu; an RSA or ECC key does not treat it as RAW."""
    for spec, alg in (("RSA_2048", "RSASSA_PSS_SHA_256"), ("ECC_NIST_P256", "ECDSA_SHA_256")):
        md = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]
        mu = bytes(64)
        with pytest.raises(errors.ValidationException, match="EXTERNAL_MU"):
            kms.sign(KeyId=md["KeyId"], Message=mu, MessageType="EXTERNAL_MU",
                     SigningAlgorithm=alg)
        sig = kms.sign(KeyId=md["KeyId"], Message=mu, SigningAlgorithm=alg)["Signature"]
        with pytest.raises(errors.ValidationException, match="EXTERNAL_MU"):
            kms.verify(KeyId=md["KeyId"], Message=mu, Signature=sig, MessageType="EXTERNAL_MU",
                       SigningAlgorithm=alg)


def test_hmac(kms):
    md = kms.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    mac = kms.generate_mac(KeyId=md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_384")["Mac"]
    assert len(mac) == 48
    assert kms.verify_mac(KeyId=md["KeyId"], Message=b"m", Mac=mac,
                          MacAlgorithm="HMAC_SHA_384")["MacValid"] is True
    with pytest.raises(errors.ClientError) as info:
        kms.verify_mac(KeyId=md["KeyId"], Message=b"x", Mac=mac, MacAlgorithm="HMAC_SHA_384")
    assert info.value.code == "KMSInvalidMacException"
    with pytest.raises(errors.InvalidKeyUsageException):
        kms.generate_mac(KeyId=md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")


def test_symmetric_keys_cannot_sign_or_give_a_public_key(kms, key):
    with pytest.raises(errors.InvalidKeyUsageException):
        kms.sign(KeyId=key["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with pytest.raises(errors.UnsupportedOperationException):
        kms.get_public_key(KeyId=key["KeyId"])


# -- aliases ----------------------------------------------------------------------------------
def test_alias_lifecycle(sim, kms, key):
    other = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["Arn"])
    aliases = kms.list_aliases()["Aliases"]
    assert aliases == [{
        "AliasName": "alias/app", "AliasArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app",
        "TargetKeyId": key["KeyId"], "CreationDate": aliases[0]["CreationDate"],
        "LastUpdatedDate": aliases[0]["LastUpdatedDate"],
    }]
    with pytest.raises(errors.AlreadyExistsException):
        kms.create_alias(AliasName="alias/app", TargetKeyId=other["KeyId"])
    kms.update_alias(AliasName="alias/app", TargetKeyId=other["KeyId"])
    assert kms.describe_key(KeyId="alias/app")["KeyMetadata"]["KeyId"] == other["KeyId"]
    assert kms.list_aliases(KeyId=key["KeyId"])["Aliases"] == []
    assert len(kms.list_aliases(KeyId=other["Arn"])["Aliases"]) == 1
    kms.delete_alias(AliasName="alias/app")
    with pytest.raises(errors.NotFoundException, match="alias/app is not found"):
        kms.describe_key(KeyId="alias/app")
    with pytest.raises(errors.NotFoundException):
        kms.delete_alias(AliasName="alias/app")
    with pytest.raises(errors.ValidationException,
                       match=r"DeleteAlias operation: Invalid identifier$"):
        kms.delete_alias(AliasName="app")


@pytest.mark.parametrize(
    ("name", "code"),
    # a name without the prefix: AWS answers 'ValidationException: Alias must start with the
    # prefix "alias/".' (as real CreateAlias calls report it)
    [("alias/aws/ebs", "NotAuthorizedException"), ("noprefix", "ValidationException"),
     ("alias/", "InvalidAliasNameException"), ("alias/a:b", "InvalidAliasNameException")],
)
def test_alias_names(kms, key, name, code):
    with pytest.raises(errors.ClientError) as info:
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    assert info.value.code == code


@pytest.mark.parametrize("verb", ["create_alias", "update_alias"])
def test_a_reserved_alias_name_is_refused_with_the_bare_code(kms, key, verb):
    """AWS's NotAuthorizedException for alias/aws/... carries no message; the simulator's
    reason is the explanation beside it."""
    with pytest.raises(errors.ClientError) as info:
        getattr(kms, verb)(AliasName="alias/aws/ebs", TargetKeyId=key["KeyId"])
    assert (info.value.code, info.value.message) == ("NotAuthorizedException", "")
    assert "reserved for AWS managed keys" in explanation_of(info.value)


def test_alias_target_must_be_a_key_not_an_alias(kms, key):
    kms.create_alias(AliasName="alias/one", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.NotFoundException, match="Invalid keyId"):
        kms.create_alias(AliasName="alias/two", TargetKeyId="alias/one")


def test_update_alias_needs_the_same_kind_of_key(kms, key):
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    with pytest.raises(errors.ValidationException, match="same type"):
        kms.update_alias(AliasName="alias/app", TargetKeyId=rsa["KeyId"])


def test_aliases_are_per_account(sim, kms, key):
    kms.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    other = sim.client("kms", principal=OTHER)
    with pytest.raises(errors.NotFoundException):
        other.describe_key(KeyId="alias/app")
    assert other.list_aliases()["Aliases"] == []
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/app"
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["KeyId"] == key["KeyId"]


def test_derive_shared_secret_matches_an_independent_ecdh(kms):
    md = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    assert md["KeyAgreementAlgorithms"] == ["ECDH"]
    mine = ec.generate_private_key(ec.SECP256R1())
    mine_der = mine.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
    out = kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                   PublicKey=mine_der)
    theirs = serialization.load_der_public_key(kms.get_public_key(KeyId=md["KeyId"])["PublicKey"])
    assert out["SharedSecret"] == mine.exchange(ec.ECDH(), theirs)
    with pytest.raises(errors.ValidationException):
        kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                 PublicKey=b"not a key")


@pytest.mark.parametrize(
    ("spec", "usage", "call"),
    [
        ("ECC_NIST_P256", "SIGN_VERIFY",
         lambda k, kid: k.sign(KeyId=kid, Message=b"m", SigningAlgorithm="ECDSA_SHA_256",
                               DryRun=True)),
        ("ECC_NIST_P256", "SIGN_VERIFY",
         lambda k, kid: k.verify(KeyId=kid, Message=b"m", Signature=b"s",
                                 SigningAlgorithm="ECDSA_SHA_256", DryRun=True)),
        ("HMAC_256", "GENERATE_VERIFY_MAC",
         lambda k, kid: k.generate_mac(KeyId=kid, Message=b"m", MacAlgorithm="HMAC_SHA_256",
                                       DryRun=True)),
        ("HMAC_256", "GENERATE_VERIFY_MAC",
         lambda k, kid: k.verify_mac(KeyId=kid, Message=b"m", Mac=b"x" * 32,
                                     MacAlgorithm="HMAC_SHA_256", DryRun=True)),
        ("ECC_NIST_P256", "KEY_AGREEMENT",
         lambda k, kid: k.derive_shared_secret(KeyId=kid, KeyAgreementAlgorithm="ECDH",
                                               PublicKey=b"x", DryRun=True)),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT",
         lambda k, kid: k.generate_data_key_pair(KeyId=kid, KeyPairSpec="RSA_2048", DryRun=True)),
        ("SYMMETRIC_DEFAULT", "ENCRYPT_DECRYPT",
         lambda k, kid: k.generate_data_key_pair_without_plaintext(
             KeyId=kid, KeyPairSpec="RSA_2048", DryRun=True)),
    ],
)
def test_dry_runs_of_the_other_operations(kms, spec, usage, call):
    md = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    with pytest.raises(errors.DryRunOperationException):
        call(kms, md["KeyId"])
    kms.disable_key(KeyId=md["KeyId"])
    with pytest.raises(errors.DisabledException):
        call(kms, md["KeyId"])
