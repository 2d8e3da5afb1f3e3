"""Key rotation: automatic (on the simulated clock) and on demand, with the rotation history.

A rotation adds a key material version that becomes current; new ciphertexts use it, and
ciphertexts made under older versions still decrypt (the blob names its version). Only
symmetric encryption keys with AWS-generated material rotate, as in AWS.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from simulator import errors
from simulator.kms.core import ANY, CRYPTO, KmsCore
from simulator.kms.keys import PENDING_DELETION, KmsKey
from simulator.service import CallContext

DEFAULT_ROTATION_DAYS = 365


class RotationOperations(KmsCore):
    """EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
    ListKeyRotations."""

    def _rotatable(self, ctx: CallContext, params: dict[str, Any], op: str,
                   extra: dict[str, Any] | None = None, state: str = CRYPTO) -> KmsKey:
        key, _ = self.resolve_key(ctx, params["KeyId"], aliases=False)
        self.audit_key(ctx, key)
        self.authorizer.authorize(ctx, key, op, extra=extra)
        self.require_state(key, state)
        if not key.symmetric_encryption or key.origin != "AWS_KMS":
            raise errors.UnsupportedOperationException(
                f"{key.arn} cannot be rotated: automatic and on-demand rotation are supported "
                "only on symmetric encryption KMS keys with key material that KMS generated."
            )
        return key

    def EnableKeyRotation(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Rotate automatically every RotationPeriodInDays (90-2560, default 365)."""
        days = params.get("RotationPeriodInDays") or DEFAULT_ROTATION_DAYS
        key = self._rotatable(ctx, params, "EnableKeyRotation",
                              extra={"kms:RotationPeriodInDays": days})
        key.rotation_period_days = days
        if not key.rotation_enabled or key.next_rotation is None:
            key.next_rotation = ctx.now + timedelta(days=days)
        else:
            last = key.next_rotation - timedelta(days=key.rotation_period_days)
            key.next_rotation = max(last + timedelta(days=days), ctx.now)
        key.rotation_enabled = True
        key.changed()
        return {}

    def DisableKeyRotation(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Stop automatic rotation (existing material versions stay)."""
        key = self._rotatable(ctx, params, "DisableKeyRotation")
        key.rotation_enabled = False
        key.next_rotation = None
        key.changed()
        return {}

    def GetKeyRotationStatus(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Whether automatic rotation is on, its period and the next rotation date."""
        self.read_only(ctx)
        key, _ = self.resolve_key(ctx, params["KeyId"], aliases=False)
        self.audit_key(ctx, key)
        self.authorizer.authorize(ctx, key, "GetKeyRotationStatus")
        if not key.symmetric_encryption:
            raise errors.UnsupportedOperationException(
                f"{key.arn} is not a symmetric encryption KMS key; it has no rotation status."
            )
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
        key = self._rotatable(ctx, params, "RotateKeyOnDemand")
        limit = self.quotas.on_demand_rotations_per_key
        if key.on_demand_rotations >= limit:
            raise errors.LimitExceededException(
                f"{key.arn} has reached the quota of {limit} on-demand rotations per key."
            )
        self.rotate(key, "ON_DEMAND")
        key.on_demand_rotations += 1
        return {"KeyId": key.arn}

    def ListKeyRotations(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Completed rotations, oldest first (ALL_KEY_MATERIAL also lists the original)."""
        self.read_only(ctx)
        key, _ = self.resolve_key(ctx, params["KeyId"], aliases=False)
        self.audit_key(ctx, key)
        self.authorizer.authorize(ctx, key, "ListKeyRotations")
        self.require_state(key, ANY)
        if not key.symmetric_encryption:
            raise errors.UnsupportedOperationException(
                f"{key.arn} is not a symmetric encryption KMS key; it has no rotations."
            )
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

        return self.paginate(materials, params, render, 100, "Rotations")
