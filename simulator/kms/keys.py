"""KMS keys, their key material versions and aliases, as plain in-memory records.

Secrets (symmetric key material, HMAC keys, private keys) live only in fields declared with
``repr=False``; nothing here ever formats them. ``KmsKey.metadata()`` renders botocore's
``KeyMetadata`` shape.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
    aliases: set[str] = field(default_factory=set)
    #: Condition keys that depend only on the key (rebuilt when tags or aliases change).
    _static_context: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    _metadata: dict[str, Any] | None = field(default=None, repr=False, compare=False)

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
            md["PendingDeletionWindowInDays"] = self.pending_window_days
        if self.origin == "EXTERNAL":
            md["ExpirationModel"] = "KEY_MATERIAL_DOES_NOT_EXPIRE"
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
