"""KMS keys, their key material versions and aliases, as plain in-memory records.

Secrets (symmetric key material, HMAC keys, private keys) live only in fields declared with
``repr=False``; nothing here ever formats them. ``KmsKey.metadata()`` renders botocore's
``KeyMetadata`` shape.

Key material never pickles in the clear: ``pickle.dumps`` of a ``KeyMaterial`` (and so of a
key, the KMS service or a whole ``Simulation``) raises ``TypeError``, as ``EncryptedVolume``
does. To persist a simulation, wrap the material explicitly: a ``pickle.Pickler`` subclass
whose ``persistent_id`` returns ``("KeyMaterial", material.export_wrapped(wrapping_key))`` for
every ``KeyMaterial`` it meets, and an Unpickler whose ``persistent_load`` calls
``KeyMaterial.import_wrapped(blob, wrapping_key)`` (AES-GCM under a key the server keeps). An
asymmetric key's private key pickles as a ``KeyMaterial`` holding its PKCS #8 DER encoding,
so the same pickler covers it.
"""

from __future__ import annotations

import json
import os
from base64 import b64decode, b64encode
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from simulator.kms.specs import KEY_SPECS, KeySpecInfo

ENABLED = "Enabled"
DISABLED = "Disabled"
PENDING_DELETION = "PendingDeletion"
PENDING_IMPORT = "PendingImport"


@dataclass(eq=False)
class KeyMaterial:
    """One version of a key's material: an id (64 hex digits, as AWS's KeyMaterialId) and the
    secret itself (256 random bits for a symmetric key), kept in memory only."""

    material_id: str
    created: datetime
    secret: bytes = field(repr=False)
    rotation_type: str | None = None  # None for the original material, else AUTOMATIC/ON_DEMAND

    @classmethod
    def generate(cls, material_id: str, created: datetime, nbytes: int = 32,
                 rotation_type: str | None = None) -> KeyMaterial:
        """Fresh material from the operating system's CSPRNG."""
        return cls(material_id, created, os.urandom(nbytes), rotation_type)

    def destroy(self) -> None:
        """Forget the secret (key deletion): nothing sealed under it can be opened again."""
        self.secret = b""

    def __reduce__(self) -> Any:
        raise TypeError(
            "KeyMaterial holds KMS key material and cannot be pickled in the clear; persist it "
            "with KeyMaterial.export_wrapped(wrapping_key), e.g. from a pickle.Pickler's "
            "persistent_id (see simulator.kms.keys)"
        )

    def export_wrapped(self, wrapping_key: bytes) -> bytes:
        """This material sealed with AES-GCM under ``wrapping_key`` (16, 24 or 32 bytes): a
        version byte, a random 96-bit nonce, then the ciphertext and tag of its fields."""
        body = json.dumps({
            "material_id": self.material_id,
            "created": self.created.isoformat(),
            "rotation_type": self.rotation_type,
            "secret": b64encode(self.secret).decode(),
        }).encode()
        nonce = os.urandom(12)
        return bytes((_WRAP_VERSION,)) + nonce + AESGCM(_wrapping(wrapping_key)).encrypt(
            nonce, body, _WRAP_AAD)

    @classmethod
    def import_wrapped(cls, blob: bytes, wrapping_key: bytes) -> KeyMaterial:
        """The material ``export_wrapped`` sealed; ValueError when the blob is not one, was
        altered, or was sealed under another key."""
        if len(blob) < 1 + 12 + 16 or blob[0] != _WRAP_VERSION:
            raise ValueError("not a wrapped KeyMaterial (unknown format or version)")
        try:
            body = AESGCM(_wrapping(wrapping_key)).decrypt(blob[1:13], blob[13:], _WRAP_AAD)
        except InvalidTag:
            raise ValueError(
                "the wrapped KeyMaterial does not open under this wrapping key (wrong key, or "
                "the blob was altered)"
            ) from None
        fields = json.loads(body)
        return cls(fields["material_id"], datetime.fromisoformat(fields["created"]),
                   b64decode(fields["secret"]), fields["rotation_type"])


_WRAP_VERSION = 1
_WRAP_AAD = b"fargate-sim KeyMaterial v1"


def _wrapping(key: bytes) -> bytes:
    if not isinstance(key, bytes | bytearray) or len(key) not in (16, 24, 32):
        raise ValueError("a wrapping key is 16, 24 or 32 bytes (AES-128, AES-192, AES-256)")
    return bytes(key)


@dataclass(eq=False)
class KmsKey:
    """A KMS key: identity, state, policy, material versions and rotation settings."""

    key_id: str
    arn: str
    account: str
    region: str
    created: datetime
    key_spec: str
    key_usage: str
    description: str = ""
    origin: str = "AWS_KMS"
    key_manager: str = "CUSTOMER"
    state: str = ENABLED
    multi_region: bool = False
    policy_text: str = ""
    #: The parsed key policy (a simulator.iam PolicyDocument), cached so calls never re-parse.
    policy_doc: Any = field(default=None, repr=False, compare=False)
    tags: dict[str, str] = field(default_factory=dict)
    materials: dict[str, KeyMaterial] = field(default_factory=dict, repr=False)
    current_material_id: str | None = None
    #: The private key object of an asymmetric key, generated on first use.
    private_key: Any = field(default=None, repr=False, compare=False)
    deletion_date: datetime | None = None
    pending_window_days: int | None = None
    rotation_enabled: bool = False
    rotation_period_days: int = 365
    next_rotation: datetime | None = None
    on_demand_rotations: int = 0
    #: The clock call that makes the next automatic rotation (None when none is set).
    rotation_call: Any = field(default=None, repr=False, compare=False)
    aliases: set[str] = field(default_factory=set)
    #: Imported material (Origin EXTERNAL): the wrapping keys and tokens handed out
    #: (ops_import.ImportParameters), the id of the material imported first (only it may be
    #: imported again), its expiration model and ValidTo, and the clock call that expires it.
    import_parameters: list[Any] = field(default_factory=list, repr=False)
    imported_material_id: str | None = None
    expiration_model: str | None = None
    valid_to: datetime | None = None
    expiry: Any = field(default=None, repr=False, compare=False)
    #: Condition keys that depend only on the key (rebuilt when tags or aliases change).
    _static_context: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _metadata: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    #: The last successful cryptographic operation with the key, as GetKeyLastUsage's
    #: KeyLastUsageData (None: not used since tracking began), and when tracking began
    #: (None: at creation; a key from a state saved before tracking existed: at its restore).
    last_usage: dict[str, Any] | None = field(default=None, compare=False)
    usage_tracked_since: datetime | None = field(default=None, compare=False)

    @property
    def spec(self) -> KeySpecInfo:
        return KEY_SPECS[self.key_spec]

    @property
    def symmetric_encryption(self) -> bool:
        """True for a SYMMETRIC_DEFAULT key (the only kind that makes data keys)."""
        return self.key_spec == "SYMMETRIC_DEFAULT"

    @property
    def enabled(self) -> bool:
        return self.state == ENABLED

    @property
    def current_material(self) -> KeyMaterial | None:
        if self.current_material_id is None:
            return None
        return self.materials.get(self.current_material_id)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled state: an asymmetric private key travels as a ``KeyMaterial`` (its PKCS #8
        DER), so it is refused or wrapped like every other key material."""
        state = dict(self.__dict__)
        private = state.get("private_key")
        if private is not None:
            der = private.private_bytes(serialization.Encoding.DER,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
            state["private_key"] = KeyMaterial(f"{self.key_id}/private-key", self.created, der)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = {"import_parameters": [], **state}  # saved before keys kept it
        private = state.get("private_key")
        if isinstance(private, KeyMaterial):
            state = dict(state)
            state["private_key"] = serialization.load_der_private_key(private.secret, None)
        self.__dict__.update(state)

    def changed(self) -> None:
        """Drop cached renderings after any change of state, tags, aliases or material."""
        self._static_context = None
        self._metadata = None

    def metadata(self) -> dict[str, Any]:
        """botocore's ``KeyMetadata`` for this key (cached until the key changes)."""
        if self._metadata is None:
            self._metadata = self._render_metadata()
        return dict(self._metadata)

    def _render_metadata(self) -> dict[str, Any]:
        spec = self.spec
        md: dict[str, Any] = {
            "AWSAccountId": self.account,
            "KeyId": self.key_id,
            "Arn": self.arn,
            "CreationDate": self.created,
            "Enabled": self.state == ENABLED,
            "Description": self.description,
            "KeyUsage": self.key_usage,
            "KeyState": self.state,
            "Origin": self.origin,
            "KeyManager": self.key_manager,
            "CustomerMasterKeySpec": self.key_spec,
            "KeySpec": self.key_spec,
        }
        if self.deletion_date is not None:
            md["DeletionDate"] = self.deletion_date
        if self.state == "PendingReplicaDeletion":
            # "present only when the KeyState of the KMS key is PendingReplicaDeletion"
            # (KeyMetadata, https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html)
            md["PendingDeletionWindowInDays"] = self.pending_window_days
        if self.origin == "EXTERNAL" and self.materials:
            # Only once material is imported: AWS's DescribeKey of an EXTERNAL key still
            # PendingImport has no ExpirationModel (recorded: LocalStack's AWS-validated
            # snapshot test_import_key_symmetric, "describe-key-before-import",
            # https://github.com/localstack/localstack/blob/master/tests/aws/services/kms/test_kms.snapshot.json).
            md["ExpirationModel"] = self.expiration_model or "KEY_MATERIAL_DOES_NOT_EXPIRE"
            if self.valid_to is not None:
                md["ValidTo"] = self.valid_to
        enc = spec.encryption_algorithms(self.key_usage)
        if enc:
            md["EncryptionAlgorithms"] = list(enc)
        if self.key_usage == "SIGN_VERIFY":
            md["SigningAlgorithms"] = list(spec.signing_algorithms)
        if self.key_usage == "GENERATE_VERIFY_MAC":
            md["MacAlgorithms"] = list(spec.mac_algorithms)
        if self.key_usage == "KEY_AGREEMENT":
            md["KeyAgreementAlgorithms"] = ["ECDH"]
        md["MultiRegion"] = self.multi_region
        if self.multi_region:
            md["MultiRegionConfiguration"] = {
                "MultiRegionKeyType": "PRIMARY",
                "PrimaryKey": {"Arn": self.arn, "Region": self.region},
                "ReplicaKeys": [],
            }
        if self.symmetric_encryption and self.current_material_id is not None:
            md["CurrentKeyMaterialId"] = self.current_material_id
        return md


@dataclass
class Alias:
    """A friendly name for a key in one account and Region (``alias/...``)."""

    name: str
    arn: str
    account: str
    target_key_id: str
    created: datetime
    updated: datetime

    def entry(self) -> dict[str, Any]:
        """botocore's ``AliasListEntry``."""
        return {
            "AliasName": self.name,
            "AliasArn": self.arn,
            "TargetKeyId": self.target_key_id,
            "CreationDate": self.created,
            "LastUpdatedDate": self.updated,
        }
