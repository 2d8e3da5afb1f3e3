"""Key rotation: automatic (on the simulated clock) and on demand, with the rotation history.

A rotation adds a key material version that becomes current; new ciphertexts use it, and
ciphertexts made under older versions still decrypt (the blob names its version). Only
symmetric encryption keys with AWS-generated material rotate, as in AWS.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from simulator import errors
from simulator.kms.admission import require_origin
from simulator.kms.core import KmsCore
from simulator.kms.keys import PENDING_DELETION, KmsKey
from simulator.service import CallContext

DEFAULT_ROTATION_DAYS = 365
ROTATION_ONLY_SYMMETRIC = (
    "automatic and on-demand rotation are supported only on symmetric encryption KMS keys "
    "with key material that KMS generated"
)
NO_ROTATION_STATUS = "only symmetric encryption KMS keys have a rotation status and rotations"


class RotationOperations(KmsCore):
    """EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
    ListKeyRotations."""

    def _rotatable(self, ctx: CallContext, params: dict[str, Any],
                   extra: dict[str, Any] | None = None) -> KmsKey:
        key = self._key(ctx, params, extra)
        # AWS answers an asymmetric or HMAC key with an empty message, a key with imported
        # material with the origin sentence (both recorded from AWS).
        if not key.symmetric_encryption:
            raise errors.UnsupportedOperationException("", explanation=ROTATION_ONLY_SYMMETRIC)
        require_origin(key, "AWS_KMS", ROTATION_ONLY_SYMMETRIC)
        return key

    def _key(self, ctx: CallContext, params: dict[str, Any],
             extra: dict[str, Any] | None = None) -> KmsKey:
        key = self.admit(ctx, params, extra=extra).key
        assert key is not None
        return key

    def EnableKeyRotation(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Rotate automatically every RotationPeriodInDays (90-2560, default 365)."""
        days = params.get("RotationPeriodInDays") or DEFAULT_ROTATION_DAYS
        key = self._rotatable(ctx, params, extra={"kms:RotationPeriodInDays": days})
        if not key.rotation_enabled or key.next_rotation is None:
            key.next_rotation = ctx.now + timedelta(days=days)
        else:
            # A new period counts from the last rotation (or from when rotation was enabled),
            # which the old period gives; a date already past means rotate now.
            last = key.next_rotation - timedelta(days=key.rotation_period_days)
            key.next_rotation = max(last + timedelta(days=days), ctx.now)
        key.rotation_period_days = days
        key.rotation_enabled = True
        self.schedule_rotation(key)
        key.changed()
        return {}

    def DisableKeyRotation(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Stop automatic rotation (existing material versions stay)."""
        key = self._rotatable(ctx, params)
        key.rotation_enabled = False
        key.next_rotation = None
        self.schedule_rotation(key)  # cancels it
        key.changed()
        return {}

    def GetKeyRotationStatus(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Whether automatic rotation is on, its period and the next rotation date."""
        key = self._key(ctx, params)
        if not key.symmetric_encryption:
            # As RotateKeyOnDemand's recorded answer for such a key: an empty message.
            raise errors.UnsupportedOperationException("", explanation=NO_ROTATION_STATUS)
        # "While a KMS key is pending deletion, its key rotation status is false ... If you
        # cancel the deletion, the original key rotation status returns to true."
        enabled = key.rotation_enabled and key.state != PENDING_DELETION
        out: dict[str, Any] = {"KeyRotationEnabled": enabled, "KeyId": key.arn}
        if enabled:
            out["RotationPeriodInDays"] = key.rotation_period_days
            if key.next_rotation is not None:
                out["NextRotationDate"] = key.next_rotation
        return out

    def RotateKeyOnDemand(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """A new material version now (at most ``quotas.on_demand_rotations_per_key`` times)."""
        key = self._rotatable(ctx, params)
        limit = self.quotas.on_demand_rotations_per_key
        if key.on_demand_rotations >= limit:
            raise errors.LimitExceededException(
                "The on-demand rotations limit has been reached for the given keyId. No more "
                f"on-demand rotations can be performed for this key: {key.arn}",
                explanation=f"the quota is {limit} on-demand rotations per key",
            )
        self.rotate(key, "ON_DEMAND")
        key.on_demand_rotations += 1
        return {"KeyId": key.arn}

    def ListKeyRotations(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Completed rotations, oldest first (ALL_KEY_MATERIAL also lists the original)."""
        key = self._key(ctx, params)
        if not key.symmetric_encryption:
            raise errors.UnsupportedOperationException("", explanation=NO_ROTATION_STATUS)
        everything = params.get("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
        materials = [
            m for m in key.materials.values() if everything or m.rotation_type is not None
        ]

        def render(m: Any) -> dict[str, Any]:
            item: dict[str, Any] = {
                "KeyId": key.arn,
                "KeyMaterialId": m.material_id,
                "KeyMaterialState": (
                    "CURRENT" if m.material_id == key.current_material_id else "NON_CURRENT"
                ),
            }
            if m.rotation_type is not None:
                item["RotationDate"] = m.created
                item["RotationType"] = m.rotation_type
            return item

        return self.paginate("ListKeyRotations", materials, params, render)
