"""Imported key material (BYOK): GetParametersForImport, ImportKeyMaterial,
DeleteImportedKeyMaterial, and material that expires on the simulated clock.

A key made with ``Origin=EXTERNAL`` has no material and is ``PendingImport``. The caller asks
for a wrapping public key and an import token (valid 24 hours), wraps 256 bits of its own
material with that public key (RSAES-OAEP, or RSA-AES key wrap), and imports it; the key is
then ``Enabled`` and encrypts with exactly that material. Deleting the material, or its
``ValidTo`` passing, puts the key back in ``PendingImport``: new tasks of a cluster that uses
it fail to start, running ones keep their data key. Only the same material can be imported
again, and ciphertexts made before decrypt once it is back.
https://docs.aws.amazon.com/kms/latest/developerguide/importing-keys.html
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from simulator import errors
from simulator.kms.admission import require_origin
from simulator.kms.core import KmsCore
from simulator.kms.keys import ENABLED, PENDING_IMPORT, KeyMaterial, KmsKey
from simulator.service import CallContext

#: Error texts: "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
#: "... origin is AWS_KMS which is not valid for this operation." and "... is pending
#: import." are AWS's (recorded in LocalStack's AWS-validated snapshots, tests/aws/services/
#: kms/test_kms.snapshot.json); AWS's words for a bad or expired token, a wrong ValidTo, a
#: refused algorithm, a wrong material length and different material are not recorded
#: anywhere found, so those messages are the simulator's (the error codes are botocore's).
IncorrectKeyMaterialException = errors.error_class("IncorrectKeyMaterialException")
ExpiredImportTokenException = errors.error_class("ExpiredImportTokenException")
InvalidImportTokenException = errors.error_class("InvalidImportTokenException")

#: "The public key and import token ... are valid for 24 hours."
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_GetParametersForImport.html)
PARAMETERS_VALID = timedelta(hours=24)
#: ValidTo: "The maximum value is 365 days from the request date."
#: (https://docs.aws.amazon.com/kms/latest/APIReference/API_ImportKeyMaterial.html)
MAX_VALID_TO = timedelta(days=365)
_RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
_OAEP_HASH = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256}
#: Bytes of material each key spec takes (a symmetric key: 256 bits; HMAC keys: the range
#: the HMAC key specs allow, https://docs.aws.amazon.com/kms/latest/developerguide/hmac.html).
_MATERIAL_BYTES = {"SYMMETRIC_DEFAULT": (32, 32), "HMAC_224": (28, 64), "HMAC_256": (32, 64),
                   "HMAC_384": (48, 128), "HMAC_512": (64, 128)}


@dataclass(eq=False)
class ImportParameters:
    """One GetParametersForImport answer the key keeps: the wrapping key pair (its private
    half never leaves the simulator), how material is wrapped with it, and until when."""

    token: bytes = field(repr=False)
    private_key: Any = field(repr=False)
    algorithm: str
    valid_to: datetime


def _unwrap(params: ImportParameters, blob: bytes) -> bytes:
    """The material ``blob`` wraps, as ``params.algorithm`` says; ValueError if it does not
    open under the wrapping key."""
    scheme, _, digest = params.algorithm.rpartition("_SHA_")
    algorithm = _OAEP_HASH[f"SHA_{digest}"]()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=algorithm), algorithm=algorithm, label=None)
    if scheme == "RSAES_OAEP":
        return bytes(params.private_key.decrypt(blob, oaep))
    # RSA_AES_KEY_WRAP: an AES key encrypted with RSA-OAEP, then the material wrapped with that
    # AES key (AES key wrap with padding, RFC 5649), in that order.
    size = params.private_key.key_size // 8
    aes_key = params.private_key.decrypt(blob[:size], oaep)
    try:
        return bytes(aes_key_unwrap_with_padding(aes_key, blob[size:]))
    except InvalidUnwrap as exc:
        raise ValueError(str(exc)) from None


def material_id(key: KmsKey, secret: bytes) -> str:
    """The KeyMaterialId of imported material: a digest of the key and the material, so the
    same material imported again is the same version (its ciphertexts decrypt again)."""
    return hashlib.sha256(b"fargate-sim imported key material\0" + key.arn.encode()
                          + b"\0" + secret).hexdigest()


class ImportOperations(KmsCore):
    """GetParametersForImport, ImportKeyMaterial, DeleteImportedKeyMaterial."""

    def _external(self, ctx: CallContext, params: dict[str, Any]) -> KmsKey:
        key = self.admit(ctx, params).key
        assert key is not None
        require_origin(key, "EXTERNAL", "key material can be imported only into a KMS key "
                                        "created with Origin EXTERNAL")
        return key

    def GetParametersForImport(self, ctx: CallContext, params: dict[str, Any]
                               ) -> dict[str, Any]:
        """A fresh RSA wrapping public key and import token for ``KeyId``, valid 24 hours."""
        key = self._external(ctx, params)
        spec, algorithm = params["WrappingKeySpec"], params["WrappingAlgorithm"]
        if algorithm == "RSAES_PKCS1_V1_5":
            raise errors.ValidationException(
                "The wrapping algorithm RSAES_PKCS1_V1_5 is not supported.",
                explanation="KMS stopped supporting RSAES_PKCS1_V1_5 on October 10, 2023 (the "
                            "WrappingAlgorithm reference): use RSAES_OAEP_SHA_256 or "
                            "RSA_AES_KEY_WRAP_SHA_256")
        if spec == "SM2" or algorithm == "SM2PKE":
            raise errors.ValidationException(
                "SM2 wrapping keys are available only in the China Regions.",
                explanation="use an RSA wrapping key spec and an RSAES_OAEP or RSA_AES_KEY_WRAP "
                            "algorithm")
        private = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS[spec])
        token = os.urandom(32) + key.key_id.encode()
        valid_to = ctx.now + PARAMETERS_VALID
        key.import_parameters = [p for p in key.import_parameters if p.valid_to > ctx.now]
        key.import_parameters.append(ImportParameters(token, private, algorithm, valid_to))
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.audit_key(ctx, key)
        return {"KeyId": key.arn, "ImportToken": token, "PublicKey": public,
                "ParametersValidTo": valid_to}

    def ImportKeyMaterial(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Unwrap and install the caller's material; the key becomes Enabled (a Disabled key
        stays Disabled), until the material is deleted or its ValidTo passes."""
        key = self._external(ctx, params)
        token = bytes(params["ImportToken"])
        found = next((p for p in key.import_parameters if p.token == token), None)
        if found is None:
            raise InvalidImportTokenException(
                "The import token that you specified is not valid.",
                explanation="an import token works only with the KMS key whose "
                            "GetParametersForImport answer it came in")
        if found.valid_to <= ctx.now:
            raise ExpiredImportTokenException(
                "The import token that you specified has expired.",
                explanation="call GetParametersForImport again and wrap the material with the "
                            "new public key")
        model = params.get("ExpirationModel") or "KEY_MATERIAL_EXPIRES"
        valid_to = params.get("ValidTo")
        if model == "KEY_MATERIAL_EXPIRES" and valid_to is None:
            raise errors.ValidationException(
                "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
                explanation="give ValidTo, or ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE")
        if model == "KEY_MATERIAL_DOES_NOT_EXPIRE" and valid_to is not None:
            raise errors.ValidationException(
                "A validTo date is only valid if the ExpirationModel is KEY_MATERIAL_EXPIRES",
                explanation="leave ValidTo out when the material does not expire")
        if valid_to is not None and not ctx.now < valid_to <= ctx.now + MAX_VALID_TO:
            raise errors.ValidationException(
                f"ValidTo {valid_to:%Y-%m-%dT%H:%M:%SZ} must be in the future and at most 365 "
                "days from now.",
                explanation=f"now is {ctx.now:%Y-%m-%dT%H:%M:%SZ} on the simulated clock")
        try:
            secret = _unwrap(found, bytes(params["EncryptedKeyMaterial"]))
        except ValueError:
            raise errors.InvalidCiphertextException(
                "", explanation=f"EncryptedKeyMaterial does not open under the wrapping key of "
                                f"this import token with {found.algorithm}") from None
        low, high = _MATERIAL_BYTES.get(key.key_spec, (32, 32))
        if not low <= len(secret) <= high:
            raise errors.ValidationException(
                f"Invalid key material length: {len(secret)} bytes.",
                explanation=f"a {key.key_spec} key takes {low}"
                            + (f"-{high}" if high != low else "") + " bytes of key material")
        mid = material_id(key, secret)
        self._check_import_type(key, params, mid)
        if key.imported_material_id is not None and mid != key.imported_material_id:
            raise IncorrectKeyMaterialException(
                "The key material that you imported is not the same as the key material that "
                "was previously imported into this KMS key.",
                explanation="a KMS key takes only the material first imported into it; "
                            "ciphertexts made under it need that material")
        material = key.materials.get(mid)
        if material is None or not material.secret:
            material = KeyMaterial(mid, ctx.now, secret)
            key.materials = {mid: material}
        key.current_material_id = key.imported_material_id = mid
        key.expiration_model, key.valid_to = model, valid_to
        if key.state == PENDING_IMPORT:
            key.state = ENABLED
        self.schedule_expiry(key)
        key.changed()
        self.audit_key(ctx, key)
        # KeyId is the bare key id in AWS's recorded answer (LocalStack's AWS-validated
        # snapshot, test_import_key_material_raises_if_there_is_already_key_material_pending),
        # though the API reference says key ARN; a KeyMaterialId for symmetric keys only, as
        # DescribeKey's CurrentKeyMaterialId.
        return {"KeyId": key.key_id,
                **({"KeyMaterialId": mid} if key.symmetric_encryption else {})}

    @staticmethod
    def _check_import_type(key: KmsKey, params: dict[str, Any], mid: str) -> None:
        """ImportType and KeyMaterialId as the simulator's one material per key allows them:
        NEW_KEY_MATERIAL for the first import, EXISTING_KEY_MATERIAL (and the material's own
        id) after it; a second, different material (rotating imported material) is not
        simulated."""
        first = key.imported_material_id is None
        kind = params.get("ImportType") or ("NEW_KEY_MATERIAL" if first else
                                            "EXISTING_KEY_MATERIAL")
        if kind == "NEW_KEY_MATERIAL" and not first:
            raise errors.UnsupportedOperationException(
                "fargate-sim keeps one imported key material per KMS key: ImportType "
                "NEW_KEY_MATERIAL on a key that has had material (rotating imported material) "
                "is not simulated.",
                explanation="reimport the key's own material with EXISTING_KEY_MATERIAL")
        if kind == "EXISTING_KEY_MATERIAL" and first:
            raise errors.ValidationException(
                "ImportType EXISTING_KEY_MATERIAL needs key material imported before; this KMS "
                "key has none.",
                explanation="the first import of a key is NEW_KEY_MATERIAL (the default)")
        given = params.get("KeyMaterialId")
        if given is not None and kind == "NEW_KEY_MATERIAL":
            raise errors.ValidationException(
                "KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.",
                explanation="KMS computes the new material's id from the key and the material")
        if given is not None and given != mid:
            raise IncorrectKeyMaterialException(
                f"The key material does not match KeyMaterialId {given}.",
                explanation="the id is KMS's digest of the key and the material: import the "
                            "material that id names")

    def DeleteImportedKeyMaterial(self, ctx: CallContext, params: dict[str, Any]
                                  ) -> dict[str, Any]:
        """Delete the material: the key is PendingImport until the same material comes back
        (a key pending deletion stays so; one already PendingImport is unchanged)."""
        key = self._external(ctx, params)
        mid = key.imported_material_id
        given = params.get("KeyMaterialId")
        if given is not None and given != mid:
            raise errors.NotFoundException(
                f"Key material {given} does not exist in KMS key {key.arn}.",
                explanation="the key holds one imported material"
                            + (f", {mid}" if mid else ", and none now"))
        self.remove_material(key)
        self.audit_key(ctx, key)
        return {"KeyId": key.arn,
                **({"KeyMaterialId": mid} if mid and key.symmetric_encryption else {})}

    # -- expiry on the simulated clock --------------------------------------------------------
    def remove_material(self, key: KmsKey) -> None:
        """Forget the key's imported material (deleted, or expired): PendingImport."""
        for material in key.materials.values():
            material.destroy()
        key.materials = {}
        # DescribeKey keeps CurrentKeyMaterialId after the material is deleted (recorded:
        # LocalStack's AWS-validated snapshot, "describe-key-after-deleted-import").
        key.expiration_model, key.valid_to = None, None
        if key.state in (ENABLED, "Disabled"):
            key.state = PENDING_IMPORT
        if key.expiry is not None:
            key.expiry.cancel()
            key.expiry = None
        key.changed()

    def schedule_expiry(self, key: KmsKey) -> None:
        """When ValidTo passes on the simulated clock, KMS deletes the material and the key
        is PendingImport; CloudTrail shows DeleteExpiredKeyMaterial (an AwsServiceEvent)."""
        if key.expiry is not None:
            key.expiry.cancel()
            key.expiry = None
        if key.valid_to is None:
            return
        key_id = key.key_id

        def expire() -> None:
            k = self.keys.get(key_id)
            if k is not None and k.valid_to is not None and k.valid_to <= self.sim.clock.now():
                self.remove_material(k)
                # https://docs.aws.amazon.com/kms/latest/developerguide/ct-deleteexpiredkeymaterial.html
                self.sim.record_service_event(
                    "kms.amazonaws.com", "DeleteExpiredKeyMaterial", k.account,
                    [{"accountId": k.account, "type": "AWS::KMS::Key", "ARN": k.arn}],
                    details={"keyId": k.key_id, "keyMaterialId": k.imported_material_id})

        key.expiry = self.sim.clock.call_at(key.valid_to, expire)
