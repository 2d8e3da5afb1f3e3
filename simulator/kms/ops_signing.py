"""Operations of asymmetric and HMAC keys: GetPublicKey, Sign, Verify, GenerateMac, VerifyMac,
DeriveSharedSecret.

As in AWS, a signature or MAC that does not verify is an error (KMSInvalidSignatureException,
KMSInvalidMacException), not a ``False`` in the response.
"""

from __future__ import annotations

from typing import Any

from simulator import errors
from simulator.kms import asymmetric
from simulator.kms.core import KmsCore
from simulator.kms.keys import KmsKey
from simulator.kms.specs import GENERATE_VERIFY_MAC, SIGN_VERIFY
from simulator.service import CallContext

KMSInvalidSignatureException = errors.error_class("KMSInvalidSignatureException")
KMSInvalidMacException = errors.error_class("KMSInvalidMacException")


def _bad_digest(algorithm: str, exc: ValueError) -> errors.ClientError:
    """AWS's ValidationException for a DIGEST message of the wrong length (recorded)."""
    return errors.ValidationException(
        f"Digest is invalid length for algorithm {algorithm}.", explanation=str(exc)
    )


def _digest(params: dict[str, Any], algorithm: str) -> bool:
    """Whether Message is a digest (MessageType DIGEST). EXTERNAL_MU is the 64-byte mu of
    ML-DSA signing (FIPS 204, 6.2), and the simulator's RSA and ECC keys have no such step:
    a ValidationException (the wording is the simulator's; no AWS answer was recorded)."""
    kind = params.get("MessageType") or "RAW"
    if kind == "EXTERNAL_MU":
        raise errors.ValidationException(
            f"MessageType EXTERNAL_MU is not valid for signing algorithm {algorithm}.",
            explanation="EXTERNAL_MU is only for ML_DSA_SHAKE_256 with ML-DSA keys "
            "(https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html); use RAW "
            "for a message or DIGEST for its hash",
        )
    return kind == "DIGEST"


class SigningOperations(KmsCore):
    """GetPublicKey, Sign, Verify, GenerateMac, VerifyMac, DeriveSharedSecret."""

    def _use(self, ctx: CallContext, params: dict[str, Any], algorithm_key: str,
             algorithm: str) -> KmsKey:
        """Admit the request (``admission.RULES``), then check the algorithm against the key."""
        key = self.admit(ctx, params, extra={algorithm_key: algorithm}).key
        assert key is not None
        valid = {
            SIGN_VERIFY: key.spec.signing_algorithms,
            GENERATE_VERIFY_MAC: key.spec.mac_algorithms,
        }.get(key.key_usage, ("ECDH",))
        if algorithm not in valid:
            # AWS's text (recorded for GenerateMac and VerifyMac).
            raise errors.InvalidKeyUsageException(
                f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.",
                explanation=f"{key.arn} supports {list(valid)}",
            )
        self.dry_run(params)
        return key

    def _private(self, key: KmsKey) -> Any:
        if key.private_key is None:
            key.private_key = asymmetric.generate_private_key(key.key_spec)
        return key.private_key

    def GetPublicKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The public half of an asymmetric key (DER SubjectPublicKeyInfo) and what it does."""
        key = self.admit(ctx, params).key
        assert key is not None
        if key.spec.family not in ("RSA", "ECC"):
            # Assumed empty, as AWS's recorded UnsupportedOperationException for rotating an
            # asymmetric key; no response for GetPublicKey recorded.
            raise errors.UnsupportedOperationException(
                "", explanation=f"{key.arn} is a {key.key_spec} key; only asymmetric keys "
                "have a public key",
            )
        out: dict[str, Any] = {
            "KeyId": key.arn,
            "PublicKey": asymmetric.public_key_der(self._private(key)),
            "CustomerMasterKeySpec": key.key_spec,
            "KeySpec": key.key_spec,
            "KeyUsage": key.key_usage,
        }
        enc = key.spec.encryption_algorithms(key.key_usage)
        if enc:
            out["EncryptionAlgorithms"] = list(enc)
        if key.key_usage == SIGN_VERIFY:
            out["SigningAlgorithms"] = list(key.spec.signing_algorithms)
        if key.key_usage == "KEY_AGREEMENT":
            out["KeyAgreementAlgorithms"] = ["ECDH"]
        return out

    def Sign(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Sign a message (RAW) or a digest (DIGEST) with an asymmetric SIGN_VERIFY key."""
        alg = params["SigningAlgorithm"]
        key = self._use(ctx, params, "kms:SigningAlgorithm", alg)
        digest = _digest(params, alg)
        try:
            sig = asymmetric.sign(self._private(key), alg, params["Message"], digest)
        except ValueError as exc:
            raise _bad_digest(alg, exc) from None
        return {"KeyId": key.arn, "Signature": sig, "SigningAlgorithm": alg}

    def Verify(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Verify a signature; an invalid one raises KMSInvalidSignatureException."""
        alg = params["SigningAlgorithm"]
        key = self._use(ctx, params, "kms:SigningAlgorithm", alg)
        digest = _digest(params, alg)
        try:
            ok = asymmetric.verify(
                self._private(key), alg, params["Message"], params["Signature"], digest
            )
        except ValueError as exc:
            raise _bad_digest(alg, exc) from None
        if not ok:
            # AWS's message is empty (recorded).
            raise KMSInvalidSignatureException(
                "", explanation="the signature is not valid for this message, key and signing "
                "algorithm",
            )
        return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": alg}

    def GenerateMac(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """HMAC of a message with an HMAC key."""
        alg = params["MacAlgorithm"]
        key = self._use(ctx, params, "kms:MacAlgorithm", alg)
        material = key.current_material
        assert material is not None
        mac = asymmetric.mac(material.secret, alg, params["Message"])
        return {"Mac": mac, "MacAlgorithm": alg, "KeyId": key.arn}

    def VerifyMac(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Check an HMAC; a wrong one raises KMSInvalidMacException."""
        import hmac

        alg = params["MacAlgorithm"]
        key = self._use(ctx, params, "kms:MacAlgorithm", alg)
        material = key.current_material
        assert material is not None
        expected = asymmetric.mac(material.secret, alg, params["Message"])
        if not hmac.compare_digest(expected, params["Mac"]):
            # AWS's message is empty (recorded).
            raise KMSInvalidMacException(
                "", explanation="the MAC is not valid for this message and key"
            )
        return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": alg}

    def DeriveSharedSecret(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """ECDH between a KEY_AGREEMENT key and the caller's public key."""
        if params.get("Recipient"):
            raise errors.UnsupportedOperationException(
                "Recipient (Nitro Enclaves attestation) is not simulated."
            )
        alg = params["KeyAgreementAlgorithm"]
        key = self._use(ctx, params, "kms:KeyAgreementAlgorithm", alg)
        try:
            secret = asymmetric.derive_shared_secret(self._private(key), params["PublicKey"])
        except ValueError as exc:
            # AWS's message for an unusable public key is empty (recorded).
            raise errors.ValidationException("", explanation=str(exc)) from None
        return {"KeyId": key.arn, "SharedSecret": secret, "KeyAgreementAlgorithm": alg,
                "KeyOrigin": key.origin}
