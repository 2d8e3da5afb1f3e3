"""What each KMS key spec can do: its key usages, algorithms and the grant operations it accepts.

The tables follow botocore's KMS model and the AWS KMS Developer Guide ("Key spec reference",
"Grant operations"). Key specs the simulator cannot create (SM2, which exists only in China
Regions, ML-DSA and Ed25519) are listed in ``UNSUPPORTED_SPECS``.
"""

from __future__ import annotations

from dataclasses import dataclass

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
ENCRYPT_DECRYPT = "ENCRYPT_DECRYPT"
SIGN_VERIFY = "SIGN_VERIFY"
GENERATE_VERIFY_MAC = "GENERATE_VERIFY_MAC"
KEY_AGREEMENT = "KEY_AGREEMENT"

_RSA_SIGNING = (
    "RSASSA_PSS_SHA_256",
    "RSASSA_PSS_SHA_384",
    "RSASSA_PSS_SHA_512",
    "RSASSA_PKCS1_V1_5_SHA_256",
    "RSASSA_PKCS1_V1_5_SHA_384",
    "RSASSA_PKCS1_V1_5_SHA_512",
)
_RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")


@dataclass(frozen=True)
class KeySpecInfo:
    """One key spec: its family, the key usages it allows and the algorithms per usage."""

    name: str
    family: str  # "SYMMETRIC", "RSA", "ECC" or "HMAC"
    usages: tuple[str, ...]
    signing_algorithms: tuple[str, ...] = ()
    mac_algorithms: tuple[str, ...] = ()
    key_agreement: bool = False
    bits: int = 256

    def encryption_algorithms(self, usage: str) -> tuple[str, ...]:
        """The EncryptionAlgorithms DescribeKey shows for this spec and usage."""
        if usage != ENCRYPT_DECRYPT:
            return ()
        return (SYMMETRIC_DEFAULT,) if self.family == "SYMMETRIC" else _RSA_ENCRYPTION

    @property
    def symmetric(self) -> bool:
        return self.family == "SYMMETRIC"


KEY_SPECS: dict[str, KeySpecInfo] = {
    SYMMETRIC_DEFAULT: KeySpecInfo(SYMMETRIC_DEFAULT, "SYMMETRIC", (ENCRYPT_DECRYPT,)),
    **{
        f"RSA_{bits}": KeySpecInfo(
            f"RSA_{bits}", "RSA", (ENCRYPT_DECRYPT, SIGN_VERIFY), _RSA_SIGNING, bits=bits
        )
        for bits in (2048, 3072, 4096)
    },
    "ECC_NIST_P256": KeySpecInfo(
        "ECC_NIST_P256", "ECC", (SIGN_VERIFY, KEY_AGREEMENT), ("ECDSA_SHA_256",), key_agreement=True
    ),
    "ECC_NIST_P384": KeySpecInfo(
        "ECC_NIST_P384", "ECC", (SIGN_VERIFY, KEY_AGREEMENT), ("ECDSA_SHA_384",),
        key_agreement=True, bits=384,
    ),
    "ECC_NIST_P521": KeySpecInfo(
        "ECC_NIST_P521", "ECC", (SIGN_VERIFY, KEY_AGREEMENT), ("ECDSA_SHA_512",),
        key_agreement=True, bits=521,
    ),
    "ECC_SECG_P256K1": KeySpecInfo("ECC_SECG_P256K1", "ECC", (SIGN_VERIFY,), ("ECDSA_SHA_256",)),
    **{
        f"HMAC_{bits}": KeySpecInfo(
            f"HMAC_{bits}", "HMAC", (GENERATE_VERIFY_MAC,), mac_algorithms=(f"HMAC_SHA_{bits}",),
            bits=bits,
        )
        for bits in (224, 256, 384, 512)
    },
}

UNSUPPORTED_SPECS = ("SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519")

#: Every grant operation (botocore's GrantOperation enum).
GRANT_OPERATIONS = (
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant", "RetireGrant", "DescribeKey",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac",
    "DeriveSharedSecret",
)
#: Grant operations valid on every key.
_GENERIC_GRANT_OPS = frozenset({"CreateGrant", "RetireGrant", "DescribeKey"})
#: Grant operations that take an encryption context (so a grant constraint can apply to them).
CONTEXT_OPERATIONS = frozenset({
    "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom",
    "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
})
#: Grant operations a constraint never restricts (AWS: "not DescribeKey and RetireGrant").
UNCONSTRAINED_OPERATIONS = frozenset({"DescribeKey", "RetireGrant"})


def grant_operations_for(spec: KeySpecInfo, usage: str) -> frozenset[str]:
    """The grant operations valid for a key of ``spec`` and ``usage`` (AWS's "Grant operations")."""
    if spec.symmetric:
        ops = {
            "Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
            "ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyPair",
            "GenerateDataKeyPairWithoutPlaintext",
        }
    elif spec.family == "HMAC":
        ops = {"GenerateMac", "VerifyMac"}
    elif usage == ENCRYPT_DECRYPT:
        ops = {"Decrypt", "Encrypt", "ReEncryptFrom", "ReEncryptTo", "GetPublicKey"}
    elif usage == SIGN_VERIFY:
        ops = {"Sign", "Verify", "GetPublicKey"}
    else:
        ops = {"DeriveSharedSecret", "GetPublicKey"}
    return frozenset(ops) | _GENERIC_GRANT_OPS


#: Data key lengths by GenerateDataKey KeySpec.
DATA_KEY_BYTES = {"AES_256": 32, "AES_128": 16}
