"""Operations of asymmetric and HMAC keys: GetPublicKey, Sign, Verify, GenerateMac, VerifyMac,
DeriveSharedSecret.

As in AWS, a signature or MAC that does not verify is an error (KMSInvalidSignatureException,
KMSInvalidMacException), not a ``False`` in the response.
"""

from __future__ import annotations

from typing import Any

from simulator import errors
from simulator.kms import asymmetric
from simulator.kms.core import CRYPTO, KmsCore
from simulator.kms.keys import KmsKey
from simulator.kms.specs import GENERATE_VERIFY_MAC, SIGN_VERIFY
from simulator.service import CallContext

KMSInvalidSignatureException = errors.error_class("KMSInvalidSignatureException")
KMSInvalidMacException = errors.error_class("KMSInvalidMacException")


class SigningOperations(KmsCore):
    """GetPublicKey, Sign, Verify, GenerateMac, VerifyMac, DeriveSharedSecret."""

    def _use(self, ctx: CallContext, params: dict[str, Any], op: str, usage: str,
             algorithm_key: str, algorithm: str | None) -> KmsKey:
        key, alias = self.resolve_key(ctx, params["KeyId"])
        self.audit_key(ctx, key)
        ctx.audit["responseElements"] = None
        self.throttle_crypto(ctx, key)
        self.check_grant_tokens(params)
        extra: dict[str, Any] = {"kms:RequestAlias": alias} if alias else {}
        if algorithm:
            extra[algorithm_key] = algorithm
        self.authorizer.authorize(ctx, key, op, extra=extra, grant_operation=op)
        self.require_state(key, CRYPTO)
        if key.key_usage != usage:
            raise errors.InvalidKeyUsageException(
                f"{key.arn} has KeyUsage {key.key_usage}; {op} needs KeyUsage {usage}."
            )
        valid = {
            SIGN_VERIFY: key.spec.signing_algorithms,
            GENERATE_VERIFY_MAC: key.spec.mac_algorithms,
        }.get(usage, ("ECDH",))
        if algorithm is not None and algorithm not in valid:
            raise errors.InvalidKeyUsageException(
                f"{key.arn} ({key.key_spec}) supports {list(valid)}, not {algorithm}."
            )
        self.dry_run(params)
        return key

    def _private(self, key: KmsKey) -> Any:
        if key.private_key is None:
            key.private_key = asymmetric.generate_private_key(key.key_spec)
        return key.private_key

    def GetPublicKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The public half of an asymmetric key (DER SubjectPublicKeyInfo) and what it does."""
        self.read_only(ctx)
        key, alias = self.resolve_key(ctx, params["KeyId"])
        self.audit_key(ctx, key)
        self.throttle_crypto(ctx, key)
        self.authorizer.authorize(
            ctx, key, "GetPublicKey", extra={"kms:RequestAlias": alias} if alias else None,
            grant_operation="GetPublicKey",
        )
        self.require_state(key, CRYPTO)
        if key.spec.family not in ("RSA", "ECC"):
            raise errors.UnsupportedOperationException(
                f"{key.arn} is a {key.key_spec} key; only asymmetric keys have a public key."
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
        key = self._use(ctx, params, "Sign", SIGN_VERIFY, "kms:SigningAlgorithm", alg)
        digest = params.get("MessageType") == "DIGEST"
        try:
            sig = asymmetric.sign(self._private(key), alg, params["Message"], digest)
        except ValueError as exc:
            raise errors.ValidationException(str(exc)) from None
        return {"KeyId": key.arn, "Signature": sig, "SigningAlgorithm": alg}

    def Verify(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Verify a signature; an invalid one raises KMSInvalidSignatureException."""
        alg = params["SigningAlgorithm"]
        key = self._use(ctx, params, "Verify", SIGN_VERIFY, "kms:SigningAlgorithm", alg)
        digest = params.get("MessageType") == "DIGEST"
        try:
            ok = asymmetric.verify(
                self._private(key), alg, params["Message"], params["Signature"], digest
            )
        except ValueError as exc:
            raise errors.ValidationException(str(exc)) from None
        if not ok:
            raise KMSInvalidSignatureException(
                "The signature is not valid for this message, key and signing algorithm."
            )
        return {"KeyId": key.arn, "SignatureValid": True, "SigningAlgorithm": alg}

    def GenerateMac(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """HMAC of a message with an HMAC key."""
        alg = params["MacAlgorithm"]
        key = self._use(ctx, params, "GenerateMac", GENERATE_VERIFY_MAC, "kms:MacAlgorithm", alg)
        material = key.current_material
        assert material is not None
        mac = asymmetric.mac(material.secret, alg, params["Message"])
        return {"Mac": mac, "MacAlgorithm": alg, "KeyId": key.arn}

    def VerifyMac(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Check an HMAC; a wrong one raises KMSInvalidMacException."""
        import hmac

        alg = params["MacAlgorithm"]
        key = self._use(ctx, params, "VerifyMac", GENERATE_VERIFY_MAC, "kms:MacAlgorithm", alg)
        material = key.current_material
        assert material is not None
        expected = asymmetric.mac(material.secret, alg, params["Message"])
        if not hmac.compare_digest(expected, params["Mac"]):
            raise KMSInvalidMacException("The MAC is not valid for this message and key.")
        return {"KeyId": key.arn, "MacValid": True, "MacAlgorithm": alg}

    def DeriveSharedSecret(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """ECDH between a KEY_AGREEMENT key and the caller's public key."""
        if params.get("Recipient"):
            raise errors.UnsupportedOperationException(
                "Recipient (Nitro Enclaves attestation) is not simulated."
            )
        alg = params["KeyAgreementAlgorithm"]
        key = self._use(ctx, params, "DeriveSharedSecret", "KEY_AGREEMENT",
                        "kms:KeyAgreementAlgorithm", alg)
        try:
            secret = asymmetric.derive_shared_secret(self._private(key), params["PublicKey"])
        except ValueError as exc:
            raise errors.ValidationException(str(exc)) from None
        return {"KeyId": key.arn, "SharedSecret": secret, "KeyAgreementAlgorithm": alg,
                "KeyOrigin": key.origin}
