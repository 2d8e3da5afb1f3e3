"""Cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
GenerateDataKeyPair(WithoutPlaintext), GenerateRandom.

Every operation validates the request, is admitted as ``admission.RULES`` says (resolve the
key, count the request against the quota, authorize by key policy, IAM and grants, check the
key's state and usage), stops for a dry run, then does the cryptography. A caller without
permission learns nothing about the key's state. Plaintext (data keys, decrypted data) is
returned only by the operations whose output has a Plaintext member, and never enters the
audit trail.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, cast

from simulator import errors
from simulator.kms import asymmetric
from simulator.kms.authorization import encryption_context_keys
from simulator.kms.ciphertext import BlobHeader, CiphertextError, open_blob, parse, seal
from simulator.kms.core import KmsCore
from simulator.kms.keys import KmsKey
from simulator.kms.specs import DATA_KEY_BYTES, KEY_SPECS, SYMMETRIC_DEFAULT
from simulator.service import CallContext

#: AWS's InvalidCiphertextException has an empty message (recorded); this is the simulator's
#: explanation beside it (the error's ``explanation``).
BAD_CIPHERTEXT = (
    "the ciphertext is invalid: it is damaged, was not made by KMS, or the encryption context "
    "differs from the one it was encrypted with"
)
EITHER_BYTES_OR_SPEC = "Please specify either number of bytes or key spec."


def _invalid_ciphertext() -> errors.ClientError:
    return errors.InvalidCiphertextException("", explanation=BAD_CIPHERTEXT)


def _no_recipient(params: dict[str, Any]) -> None:
    if params.get("Recipient"):
        raise errors.UnsupportedOperationException(
            "Recipient (Nitro Enclaves attestation) is not simulated."
        )


def _too_long(key: KmsKey, algorithm: str) -> errors.ClientError:
    """AWS's ValidationException for a plaintext too long for RSAES-OAEP (recorded)."""
    hash_bytes = 20 if algorithm == "RSAES_OAEP_SHA_1" else 32
    limit = key.spec.bits // 8 - 2 * hash_bytes - 2
    return errors.ValidationException(
        f"Algorithm {algorithm} and key spec {key.key_spec} cannot encrypt data larger than "
        f"{limit} bytes."
    )


class CryptoOperations(KmsCore):
    """Encrypt, Decrypt, ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext,
    GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateRandom."""

    # -- shared steps -------------------------------------------------------------------
    @staticmethod
    def _encryption_algorithm(key: KmsKey, op: str, algorithm: str | None) -> str:
        """The encryption algorithm to use (an admitted key has KeyUsage ENCRYPT_DECRYPT)."""
        valid = key.spec.encryption_algorithms(key.key_usage)
        # The API reference: EncryptionAlgorithm's default is SYMMETRIC_DEFAULT.
        algorithm = algorithm or SYMMETRIC_DEFAULT
        if algorithm not in valid:
            # AWS's sentence for an algorithm the key spec does not support (recorded for the
            # MAC algorithms).
            raise errors.InvalidKeyUsageException(
                f"Algorithm {algorithm} is incompatible with key spec {key.key_spec}.",
                explanation=f"{op}: {key.arn} supports {list(valid)}",
            )
        return algorithm

    def _blob_key(self, parsed: BlobHeader) -> KmsKey:
        """The key a blob names; NotFound once deleted, InvalidCiphertext if it never existed."""
        key = self.keys.get(parsed.key_id)
        if key is None or not self.touch(key):
            arn = self.deleted_keys.get(parsed.key_id)
            if arn is not None:
                raise errors.NotFoundException(
                    f"Key '{arn}' does not exist",
                    explanation="the key was deleted and its key material destroyed",
                )
            raise _invalid_ciphertext()
        return key

    def _parse(self, blob: bytes) -> BlobHeader:
        try:
            return parse(blob)
        except CiphertextError:
            raise _invalid_ciphertext() from None

    def _open(self, key: KmsKey, parsed: BlobHeader, context: Mapping[str, str] | None) -> tuple[
        bytes, str
    ]:
        material = key.materials.get(parsed.material_id)
        if material is None:
            raise _invalid_ciphertext()
        try:
            return open_blob(material.secret, parsed, key_arn=key.arn, context=context), (
                material.material_id
            )
        except CiphertextError:
            raise _invalid_ciphertext() from None

    def _seal(self, key: KmsKey, plaintext: bytes, context: Mapping[str, str] | None
              ) -> tuple[bytes, str]:
        material = key.current_material
        assert material is not None
        blob = seal(
            material.secret, key_id=key.key_id, key_arn=key.arn,
            material_id=material.material_id, plaintext=plaintext, context=context,
        )
        return blob, material.material_id

    def _private_key(self, key: KmsKey) -> Any:
        if key.private_key is None:
            key.private_key = asymmetric.generate_private_key(key.key_spec)
        return key.private_key

    @staticmethod
    def _crypto_context(key: KmsKey, context: Mapping[str, str] | None,
                        algorithm: str | None) -> dict[str, Any]:
        """The operation's condition keys: context pairs, algorithm (the default one for a
        symmetric key when none was named); ``admit`` adds the alias the request used."""
        extra = encryption_context_keys(context)
        if algorithm is None and key.symmetric_encryption:
            algorithm = SYMMETRIC_DEFAULT
        if algorithm:
            extra["kms:EncryptionAlgorithm"] = algorithm
        return extra

    def _check_context(self, key: KmsKey, context: Mapping[str, str] | None) -> None:
        if context and not key.symmetric_encryption:
            raise errors.ValidationException(
                f"{key.arn} is an asymmetric KMS key; operations with asymmetric keys take no "
                "encryption context."
            )

    def _admit_crypto(
        self, ctx: CallContext, params: dict[str, Any], *, key: KmsKey | None = None,
        alias: str | None = None, named: KmsKey | None = None, algorithm: str | None = None,
        extra: Mapping[str, Any] | None = None, resource_label: str | None = None,
    ) -> tuple[KmsKey, Mapping[str, str] | None]:
        """Admit a cryptographic request (``admission.RULES``) with the condition keys of its
        encryption context and algorithm. Returns the key and the encryption context."""
        context = params.get("EncryptionContext")

        def condition_keys(k: KmsKey) -> dict[str, Any]:
            keys = self._crypto_context(k, context, algorithm)
            if extra:
                keys.update(extra)
            return keys

        admitted = self.admit(
            ctx, params, key=key, alias=alias, named=named, extra=condition_keys,
            encryption_context=context, resource_label=resource_label,
        )
        assert admitted.key is not None
        return admitted.key, context

    # -- operations ---------------------------------------------------------------------
    def Encrypt(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Encrypt up to 4 KiB under a symmetric key (AES-256-GCM) or an RSA key (OAEP)."""
        requested = params.get("EncryptionAlgorithm")
        key, context = self._admit_crypto(ctx, params, algorithm=requested)
        algorithm = self._encryption_algorithm(key, "Encrypt", requested)
        self._check_context(key, context)
        ctx.audit_params["encryptionAlgorithm"] = algorithm
        self.dry_run(params)
        plaintext = params["Plaintext"]
        if key.symmetric_encryption:
            blob, _ = self._seal(key, plaintext, context)
        else:
            try:
                blob = asymmetric.rsa_encrypt(self._private_key(key), algorithm, plaintext)
            except ValueError:
                raise _too_long(key, algorithm) from None
        return {"CiphertextBlob": blob, "KeyId": key.arn, "EncryptionAlgorithm": algorithm}

    def Decrypt(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Decrypt a blob; the key comes from the blob (KeyId, if given, must match it)."""
        _no_recipient(params)
        blob = cast(bytes, params.get("CiphertextBlob"))  # None only with IGNORE_CIPHERTEXT
        key_ref = params.get("KeyId")
        ignore_blob = bool(params.get("DryRun")) and "IGNORE_CIPHERTEXT" in (
            params.get("DryRunModifiers") or ()
        )
        if ignore_blob and not key_ref:
            raise errors.ValidationException(
                "KeyId is required when DryRunModifiers includes IGNORE_CIPHERTEXT."
            )
        if blob is None and not ignore_blob:
            raise errors.ValidationException(
                "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
                "constraint: Member must not be null"
            )
        named: KmsKey | None = None
        alias = None
        if key_ref:
            named, alias = self.resolve_key(ctx, key_ref)
        parsed: BlobHeader | None = None
        if ignore_blob or (named is not None and not named.symmetric_encryption):
            key = named
        else:
            parsed = self._parse(blob)
            key = self._blob_key(parsed)
        assert key is not None
        requested = params.get("EncryptionAlgorithm")
        key, context = self._admit_crypto(
            ctx, params, key=key, named=named, algorithm=requested,
            alias=alias,
            resource_label=None if key_ref else "the resource associated with this ciphertext",
        )
        algorithm = self._encryption_algorithm(key, "Decrypt", requested)
        self._check_context(key, context)
        ctx.audit_params.update(encryptionAlgorithm=algorithm, keyId=key.arn)
        self.dry_run(params)
        out: dict[str, Any] = {"KeyId": key.arn, "EncryptionAlgorithm": algorithm}
        if parsed is not None:
            plaintext, material_id = self._open(key, parsed, context)
            out["KeyMaterialId"] = material_id
        else:
            try:
                plaintext = asymmetric.rsa_decrypt(self._private_key(key), algorithm, blob)
            except ValueError:
                raise _invalid_ciphertext() from None
        out["Plaintext"] = plaintext
        return out

    def ReEncrypt(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Decrypt under one key and encrypt under another without exposing the plaintext."""
        src_ref = params.get("SourceKeyId")
        named: KmsKey | None = None
        src_alias = None
        if src_ref:
            named, src_alias = self.resolve_key(ctx, src_ref)
        blob = params.get("CiphertextBlob")
        if blob is None:
            raise errors.ValidationException(
                "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy "
                "constraint: Member must not be null"
            )
        parsed: BlobHeader | None = None
        if named is not None and not named.symmetric_encryption:
            src = named
        else:
            parsed = self._parse(blob)
            src = self._blob_key(parsed)
        dst, dst_alias = self.resolve_key(ctx, params["DestinationKeyId"])
        src_ctx = params.get("SourceEncryptionContext")
        dst_ctx = params.get("DestinationEncryptionContext")
        src_alg = params.get("SourceEncryptionAlgorithm")
        dst_alg = params.get("DestinationEncryptionAlgorithm")
        same = {"kms:ReEncryptOnSameKey": src is dst}
        # Two IAM actions, each admitted on its key: kms:ReEncryptFrom on the source key
        # (which draws the quota and must be the ciphertext's), kms:ReEncryptTo on the
        # destination.
        self.admit(
            ctx, params, operation="ReEncryptFrom", key=src, named=named,
            alias=src_alias, extra={**self._crypto_context(src, src_ctx, src_alg), **same},
            encryption_context=src_ctx,
            resource_label=None if src_ref else "the resource associated with this ciphertext",
        )
        self.admit(
            ctx, params, operation="ReEncryptTo", key=dst,
            alias=dst_alias, extra={**self._crypto_context(dst, dst_ctx, dst_alg), **same},
            encryption_context=dst_ctx,
        )
        src_alg = self._encryption_algorithm(src, "ReEncrypt", src_alg)
        dst_alg = self._encryption_algorithm(dst, "ReEncrypt", dst_alg)
        self._check_context(src, src_ctx)
        self._check_context(dst, dst_ctx)
        self.dry_run(params)
        out: dict[str, Any] = {
            "SourceKeyId": src.arn, "KeyId": dst.arn,
            "SourceEncryptionAlgorithm": src_alg, "DestinationEncryptionAlgorithm": dst_alg,
        }
        if parsed is not None:
            plaintext, out["SourceKeyMaterialId"] = self._open(src, parsed, src_ctx)
        else:
            try:
                plaintext = asymmetric.rsa_decrypt(self._private_key(src), src_alg, blob)
            except ValueError:
                raise _invalid_ciphertext() from None
        if dst.symmetric_encryption:
            out["CiphertextBlob"], out["DestinationKeyMaterialId"] = self._seal(
                dst, plaintext, dst_ctx
            )
        else:
            try:
                out["CiphertextBlob"] = asymmetric.rsa_encrypt(
                    self._private_key(dst), dst_alg, plaintext
                )
            except ValueError:
                raise _too_long(dst, dst_alg) from None
        return out

    def _data_key(self, ctx: CallContext, params: dict[str, Any]) -> tuple[
        KmsKey, bytes, bytes, str
    ]:
        spec, nbytes = params.get("KeySpec"), params.get("NumberOfBytes")
        if (spec is None) == (nbytes is None):
            raise errors.ValidationException(EITHER_BYTES_OR_SPEC)
        if spec is not None and spec not in DATA_KEY_BYTES:
            raise errors.ValidationException(
                f"1 validation error detected: Value '{spec}' at 'keySpec' failed to satisfy "
                "constraint: Member must satisfy enum value set: [AES_256, AES_128]"
            )
        size = DATA_KEY_BYTES[spec] if spec is not None else cast(int, nbytes)
        key, context = self._admit_crypto(ctx, params)
        self.dry_run(params)
        plaintext = os.urandom(size)
        blob, material_id = self._seal(key, plaintext, context)
        return key, plaintext, blob, material_id

    def GenerateDataKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """A random data key, in plaintext and wrapped under the KMS key."""
        _no_recipient(params)
        key, plaintext, blob, material_id = self._data_key(ctx, params)
        return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": key.arn,
                "KeyMaterialId": material_id}

    def GenerateDataKeyWithoutPlaintext(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """A random data key, wrapped only: its plaintext never leaves KMS."""
        key, _, blob, material_id = self._data_key(ctx, params)
        return {"CiphertextBlob": blob, "KeyId": key.arn, "KeyMaterialId": material_id}

    def _data_key_pair(self, ctx: CallContext, params: dict[str, Any]) -> tuple[
        KmsKey, bytes, dict[str, Any]
    ]:
        pair_spec = params["KeyPairSpec"]
        if pair_spec not in KEY_SPECS or KEY_SPECS[pair_spec].family not in ("RSA", "ECC"):
            raise errors.UnsupportedOperationException(
                f"KeyPairSpec {pair_spec} is not supported by the simulator."
            )
        key, context = self._admit_crypto(ctx, params, extra={"kms:DataKeyPairSpec": pair_spec})
        self.dry_run(params)
        private = asymmetric.generate_private_key(pair_spec)
        private_der = asymmetric.private_key_der(private)
        blob, material_id = self._seal(key, private_der, context)
        out = {
            "PrivateKeyCiphertextBlob": blob,
            "PublicKey": asymmetric.public_key_der(private),
            "KeyId": key.arn,
            "KeyPairSpec": pair_spec,
            "KeyMaterialId": material_id,
        }
        return key, private_der, out

    def GenerateDataKeyPair(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """A fresh RSA or ECC key pair; the private key in plaintext and wrapped (DER PKCS#8)."""
        _no_recipient(params)
        _, private_der, out = self._data_key_pair(ctx, params)
        out["PrivateKeyPlaintext"] = private_der
        return out

    def GenerateDataKeyPairWithoutPlaintext(
        self, ctx: CallContext, params: dict[str, Any]
    ) -> dict[str, Any]:
        """A fresh key pair whose private key is returned wrapped only."""
        _, _, out = self._data_key_pair(ctx, params)
        return out

    def GenerateRandom(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Random bytes from the operating system's CSPRNG (IAM policy decides)."""
        _no_recipient(params)
        if params.get("CustomKeyStoreId"):
            raise errors.error_class("CustomKeyStoreNotFoundException")(
                "Custom key stores are not simulated."
            )
        if params.get("NumberOfBytes") is None:
            raise errors.ValidationException("NumberOfBytes is required.")  # AWS's (recorded)
        self.admit(ctx, params)
        return {"Plaintext": os.urandom(params["NumberOfBytes"])}
