"""Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext), GenerateRandom."""

from __future__ import annotations

import pytest

from simulator import errors
from tests.kms.conftest import ACCOUNT, explanation_of


def test_encrypt_decrypt_round_trip(kms, key):
    out = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"hello", EncryptionContext={"a": "1"})
    assert out["KeyId"] == key["Arn"] and out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"a": "1"})
    assert back["Plaintext"] == b"hello"
    assert back["KeyId"] == key["Arn"]
    assert back["KeyMaterialId"] == key["CurrentKeyMaterialId"]


def test_encryption_context_has_no_separator_ambiguity(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"k", EncryptionContext={"a": "bc"})[
        "CiphertextBlob"]
    with pytest.raises(errors.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"ab": "c"})
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "bc"})["Plaintext"] == b"k"


@pytest.mark.parametrize("offered", [None, {}, {"a": "1", "b": "2"}, {"a": "2"}, {"A": "1"}])
def test_wrong_or_missing_context_is_invalid_ciphertext(kms, key, offered):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"k", EncryptionContext={"a": "1"})[
        "CiphertextBlob"]
    params = {"CiphertextBlob": blob}
    if offered is not None:
        params["EncryptionContext"] = offered
    with pytest.raises(errors.InvalidCiphertextException):
        kms.decrypt(**params)


def test_flipped_bits_anywhere_are_invalid_ciphertext(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"0123456789")["CiphertextBlob"]
    for i in range(len(blob)):
        damaged = bytearray(blob)
        damaged[i] ^= 0x10
        with pytest.raises(errors.InvalidCiphertextException):
            kms.decrypt(CiphertextBlob=bytes(damaged))


def test_decrypt_with_key_id_of_another_key_is_incorrect_key(kms, key):
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"k")["CiphertextBlob"]
    with pytest.raises(errors.IncorrectKeyException):
        kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob, KeyId=key["Arn"])["Plaintext"] == b"k"


def test_generate_data_key(kms, key):
    out = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256",
                                EncryptionContext={"purpose": "test"})
    assert len(out["Plaintext"]) == 32 and out["KeyId"] == key["Arn"]
    assert out["KeyMaterialId"] == key["CurrentKeyMaterialId"]
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"purpose": "test"})
    assert back["Plaintext"] == out["Plaintext"]
    assert len(kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_128")["Plaintext"]) == 16
    assert len(kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=1)["Plaintext"]) == 1


def test_generate_data_key_without_plaintext(kms, key):
    ctx = {"aws:ecs:clusterName": "prod"}
    out = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=64,
                                                  EncryptionContext=ctx)
    assert set(out) - {"ResponseMetadata"} == {"CiphertextBlob", "KeyId", "KeyMaterialId"}
    assert len(kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext=ctx)[
        "Plaintext"]) == 64


@pytest.mark.parametrize("op", ["generate_data_key", "generate_data_key_without_plaintext"])
@pytest.mark.parametrize("params", [{}, {"KeySpec": "AES_256", "NumberOfBytes": 32}])
def test_data_key_needs_exactly_one_of_keyspec_and_number_of_bytes(kms, key, op, params):
    with pytest.raises(errors.ValidationException) as info:
        getattr(kms, op)(KeyId=key["KeyId"], **params)
    assert info.value.message == "Please specify either number of bytes or key spec."


def test_number_of_bytes_bounds(kms, key):
    with pytest.raises(errors.ValidationException, match="less than or equal to 1024"):
        kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=1025)


@pytest.mark.parametrize(
    ("spec", "usage"),
    [("RSA_2048", "ENCRYPT_DECRYPT"), ("RSA_2048", "SIGN_VERIFY"),
     ("ECC_NIST_P256", "SIGN_VERIFY"), ("HMAC_256", "GENERATE_VERIFY_MAC")],
)
@pytest.mark.parametrize("op", ["generate_data_key", "generate_data_key_without_plaintext"])
def test_data_keys_need_a_symmetric_key(kms, spec, usage, op):
    md = kms.create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"]
    with pytest.raises(errors.InvalidKeyUsageException) as info:
        getattr(kms, op)(KeyId=md["KeyId"], NumberOfBytes=64)
    name = "GenerateDataKey" + ("WithoutPlaintext" if op.endswith("plaintext") else "")
    what = f"key KeySpec is {spec}" if usage == "ENCRYPT_DECRYPT" else f"key usage is {usage}"
    assert info.value.message == f"{md['Arn']} {what} which is not valid for {name}."
    assert "symmetric encryption KMS key" in explanation_of(info.value) or (
        usage != "ENCRYPT_DECRYPT")


def test_encrypt_with_a_signing_key_is_invalid_key_usage(kms):
    md = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(errors.InvalidKeyUsageException) as info:
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    assert info.value.message == (
        f"{md['Arn']} key usage is SIGN_VERIFY which is not valid for Encrypt.")
    assert "ENCRYPT_DECRYPT" in explanation_of(info.value)


def test_symmetric_key_refuses_rsa_algorithm(kms, key):
    with pytest.raises(errors.InvalidKeyUsageException):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")


def test_rsa_encrypt_decrypt(kms):
    md = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    with pytest.raises(errors.InvalidKeyUsageException) as info:
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")  # the default is SYMMETRIC_DEFAULT
    assert info.value.message == (
        "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048.")
    out = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"secret",
                      EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert len(out["CiphertextBlob"]) == 256
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], KeyId=md["KeyId"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert back["Plaintext"] == b"secret" and back["EncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    with pytest.raises(errors.ValidationException):
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x" * 300, EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    with pytest.raises(errors.ValidationException, match="encryption context"):
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_1",
                    EncryptionContext={"a": "b"})


def test_reencrypt_between_keys(kms, key):
    other = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"data", EncryptionContext={"a": "1"})[
        "CiphertextBlob"]
    out = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
                         DestinationKeyId=other["Arn"], DestinationEncryptionContext={"b": "2"})
    assert out["SourceKeyId"] == key["Arn"] and out["KeyId"] == other["Arn"]
    assert out["SourceKeyMaterialId"] == key["CurrentKeyMaterialId"]
    assert out["DestinationKeyMaterialId"] == other["CurrentKeyMaterialId"]
    back = kms.decrypt(CiphertextBlob=out["CiphertextBlob"], EncryptionContext={"b": "2"})
    assert back["Plaintext"] == b"data" and back["KeyId"] == other["Arn"]
    with pytest.raises(errors.IncorrectKeyException):
        kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=other["KeyId"],
                       SourceEncryptionContext={"a": "1"}, DestinationKeyId=other["KeyId"])
    with pytest.raises(errors.InvalidCiphertextException):
        kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["KeyId"])


def test_generate_random(kms):
    out = kms.generate_random(NumberOfBytes=32)
    assert len(out["Plaintext"]) == 32
    with pytest.raises(errors.ValidationException) as info:
        kms.generate_random()
    assert info.value.message == "NumberOfBytes is required."


def test_crypto_audit_records_have_null_response_elements(sim, kms, key):
    kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"a": "1"})
    rec = sim.audit_trail[-1]
    assert rec["responseElements"] is None
    assert rec["requestParameters"] == {
        "keyId": key["KeyId"], "keySpec": "AES_256", "encryptionContext": {"a": "1"}}
    assert rec["recipientAccountId"] == ACCOUNT


def test_decrypt_needs_a_ciphertext(kms, key):
    with pytest.raises(errors.ValidationException, match="ciphertextBlob"):
        kms.decrypt(KeyId=key["KeyId"])


def test_aliases_work_for_cryptographic_operations(kms, key):
    kms.create_alias(AliasName="alias/data", TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId="alias/data", Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, KeyId="alias/data")["Plaintext"] == b"x"


def test_generate_data_key_pair(kms, key):
    from cryptography.hazmat.primitives import serialization

    out = kms.generate_data_key_pair(KeyId=key["KeyId"], KeyPairSpec="ECC_NIST_P256",
                                     EncryptionContext={"a": "1"})
    private = serialization.load_der_private_key(out["PrivateKeyPlaintext"], password=None)
    public = serialization.load_der_public_key(out["PublicKey"])
    assert private.public_key().public_numbers() == public.public_numbers()
    wrapped = kms.decrypt(CiphertextBlob=out["PrivateKeyCiphertextBlob"],
                          EncryptionContext={"a": "1"})
    assert wrapped["Plaintext"] == out["PrivateKeyPlaintext"]
    quiet = kms.generate_data_key_pair_without_plaintext(KeyId=key["KeyId"],
                                                         KeyPairSpec="ECC_NIST_P384")
    assert "PrivateKeyPlaintext" not in quiet and quiet["KeyPairSpec"] == "ECC_NIST_P384"
    rsa = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    with pytest.raises(errors.InvalidKeyUsageException):
        kms.generate_data_key_pair(KeyId=rsa["KeyId"], KeyPairSpec="ECC_NIST_P256")
