"""Key management operations: create, describe, list, enable/disable, delete, policy, tags."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from simulator import errors
from simulator.kms.core import KmsCore, TagException
from simulator.kms.keypolicy import (
    LOCKOUT_MESSAGE,
    POLICY_NAME,
    KmsMalformedPolicy,
    parse_key_policy,
)
from simulator.kms.keys import (
    DISABLED,
    ENABLED,
    PENDING_DELETION,
    PENDING_IMPORT,
    KeyMaterial,
    KmsKey,
)
from simulator.kms.specs import (
    ENCRYPT_DECRYPT,
    KEY_SPECS,
    SYMMETRIC_DEFAULT,
    UNSUPPORTED_SPECS,
)
from simulator.service import CallContext

MIN_WINDOW_DAYS, MAX_WINDOW_DAYS, DEFAULT_WINDOW_DAYS = 7, 30, 30
MAX_TAGS = 50
TOO_MANY_TAGS = "Too many tags"


def _tag_context(tags: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        out["aws:TagKeys"] = list(tags)
    return out


class KeyOperations(KmsCore):
    """CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, ScheduleKeyDeletion,
    CancelKeyDeletion, UpdateKeyDescription, PutKeyPolicy, GetKeyPolicy, ListKeyPolicies,
    TagResource, UntagResource, ListResourceTags."""

    # -- create / describe / list -----------------------------------------------------------
    def CreateKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Create a key with fresh material and the given (or AWS's default) key policy."""
        spec_name = params.get("KeySpec")
        legacy = params.get("CustomerMasterKeySpec")
        if spec_name and legacy:
            raise errors.ValidationException(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
                "CustomerMasterKeySpec is deprecated."
            )
        spec_name = spec_name or legacy or SYMMETRIC_DEFAULT
        if spec_name in UNSUPPORTED_SPECS:
            raise errors.UnsupportedOperationException(
                f"KeySpec {spec_name} is not supported by the simulator."
            )
        spec = KEY_SPECS[spec_name]
        usage = params.get("KeyUsage")
        if usage is None and spec_name != SYMMETRIC_DEFAULT:
            raise errors.ValidationException(
                "You must specify a KeyUsage value for all KMS keys except for symmetric "
                "encryption keys.",
                explanation=f"valid key usages for {spec_name}: {', '.join(spec.usages)}",
            )
        usage = usage or ENCRYPT_DECRYPT
        if usage not in spec.usages:
            raise errors.ValidationException(
                f"KeyUsage {usage} is not compatible with KeySpec {spec_name}",
                explanation=f"valid key usages for {spec_name}: {', '.join(spec.usages)}",
            )
        origin = params.get("Origin") or "AWS_KMS"
        if params.get("CustomKeyStoreId") or params.get("XksKeyId") or origin in (
            "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"
        ):
            raise errors.UnsupportedOperationException(
                "Custom key stores (AWS CloudHSM, external key stores) are not simulated."
            )
        if origin == "EXTERNAL" and not spec.symmetric and spec.family != "HMAC":
            raise errors.UnsupportedOperationException(
                "The simulator imports key material for symmetric and HMAC keys only."
            )
        multi_region = bool(params.get("MultiRegion"))
        bypass = bool(params.get("BypassPolicyLockoutSafetyCheck"))
        tags = self.tags_in(params.get("Tags"))
        if len(tags) > MAX_TAGS:
            raise TagException(
                TOO_MANY_TAGS, explanation=f"a KMS key can have at most {MAX_TAGS} tags"
            )
        request_keys = {
            "kms:KeySpec": spec_name,
            "kms:CustomerMasterKeySpec": spec_name,
            "kms:KeyUsage": usage,
            "kms:CustomerMasterKeyUsage": usage,
            "kms:KeyOrigin": origin,
            "kms:MultiRegion": multi_region,
            "kms:BypassPolicyLockoutSafetyCheck": bypass,
            **_tag_context(tags),
        }
        if multi_region:
            request_keys["kms:MultiRegionKeyType"] = "PRIMARY"
        self.admit(ctx, params, extra=request_keys)
        if tags:
            self.authorizer.authorize_identity(ctx, "TagResource", "*", request_keys)

        account = ctx.account
        key_id = self.new_key_id(multi_region)
        now = ctx.now
        key = KmsKey(
            key_id=key_id,
            arn=self.key_arn(account, key_id),
            account=account,
            region=self.sim.region,
            created=now,
            key_spec=spec_name,
            key_usage=usage,
            description=params.get("Description") or "",
            origin=origin,
            multi_region=multi_region,
            tags=tags,
        )
        if params.get("Policy") is not None:
            text = params["Policy"]
            doc = parse_key_policy(text)
            if not bypass and not self.authorizer.policy_allows_update(ctx, doc, key):
                raise KmsMalformedPolicy(LOCKOUT_MESSAGE)
        else:
            text, doc = self.default_policy_doc(account)
        key.policy_text, key.policy_doc = text, doc
        if origin == "EXTERNAL":
            key.state = PENDING_IMPORT
        elif spec.symmetric or spec.family == "HMAC":
            nbytes = 32 if spec.symmetric else spec.bits // 8
            material = KeyMaterial.generate(self.new_material_id(), now, nbytes)
            key.materials[material.material_id] = material
            key.current_material_id = material.material_id
        self.keys[key_id] = key
        self.audit_key(ctx, key)
        return {"KeyMetadata": key.metadata()}

    def DescribeKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The key's metadata (KeyUsage always present); any key state."""
        key = self.admit(ctx, params).key
        assert key is not None
        return {"KeyMetadata": key.metadata()}

    def ListKeys(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The keys of the caller's account in this Region (IAM policy decides)."""
        self.admit(ctx, params)
        keys = [k for k in list(self.keys.values()) if k.account == ctx.account and self.touch(k)]
        return self.paginate(
            "ListKeys", keys, params, lambda k: {"KeyId": k.key_id, "KeyArn": k.arn}
        )

    def UpdateKeyDescription(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Replace the key's description."""
        key = self._admitted(ctx, params)
        key.description = params["Description"]
        key.changed()
        return {}

    # -- enable / disable / delete ---------------------------------------------------------
    def EnableKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Enabled again: cryptographic operations work."""
        key = self._admitted(ctx, params)
        if key.state == PENDING_IMPORT:
            raise errors.KMSInvalidStateException(f"{key.arn} is pending import.")
        key.state = ENABLED
        key.changed()
        self.resume_rotation(key, ctx.now)
        return {}

    def DisableKey(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Disabled: every cryptographic operation answers DisabledException."""
        key = self._admitted(ctx, params)
        if key.state == PENDING_IMPORT:
            raise errors.KMSInvalidStateException(f"{key.arn} is pending import.")
        key.state = DISABLED
        key.changed()
        return {}

    def _admitted(self, ctx: CallContext, params: dict[str, Any], **options: Any) -> KmsKey:
        """The request's key once admitted (``admission.RULES``)."""
        key = self.admit(ctx, params, **options).key
        assert key is not None
        return key

    def ScheduleKeyDeletion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """PendingDeletion for 7-30 days on the simulated clock, then the key is destroyed."""
        days = params.get("PendingWindowInDays")
        days = DEFAULT_WINDOW_DAYS if days is None else days
        if not MIN_WINDOW_DAYS <= days <= MAX_WINDOW_DAYS:
            bound = (
                f"greater than or equal to {MIN_WINDOW_DAYS}" if days < MIN_WINDOW_DAYS
                else f"less than or equal to {MAX_WINDOW_DAYS}"
            )
            raise errors.ValidationException(
                f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed "
                f"to satisfy constraint: Member must have value {bound}"
            )
        key = self._admitted(
            ctx, params, extra={"kms:ScheduleKeyDeletionPendingWindowInDays": days}
        )
        key.state = PENDING_DELETION
        key.deletion_date = ctx.now + timedelta(days=days)
        key.pending_window_days = days
        key.changed()
        self.schedule_destruction(key)
        return {
            "KeyId": key.arn,
            "DeletionDate": key.deletion_date,
            "KeyState": PENDING_DELETION,
            "PendingWindowInDays": days,
        }

    def CancelKeyDeletion(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Stop a scheduled deletion; the key comes back Disabled, as in AWS."""
        key = self._admitted(ctx, params)
        if key.state != PENDING_DELETION:
            raise errors.KMSInvalidStateException(f"{key.arn} is not pending deletion.")
        self.cancel_destruction(key)
        key.state = PENDING_IMPORT if key.origin == "EXTERNAL" and not key.materials else DISABLED
        key.deletion_date = None
        key.pending_window_days = None
        key.changed()
        return {"KeyId": key.arn}

    # -- key policy -------------------------------------------------------------------------
    def PutKeyPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Replace the key policy, refusing one that would lock the caller out (unless bypassed)."""
        bypass = bool(params.get("BypassPolicyLockoutSafetyCheck"))
        key = self._admitted(ctx, params, extra={"kms:BypassPolicyLockoutSafetyCheck": bypass})
        self._policy_name(params)
        text = params["Policy"]
        doc = parse_key_policy(text)
        if not bypass and not self.authorizer.policy_allows_update(ctx, doc, key):
            raise KmsMalformedPolicy(LOCKOUT_MESSAGE)
        key.policy_text, key.policy_doc = text, doc
        return {}

    def GetKeyPolicy(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The key policy document as stored."""
        key = self._admitted(ctx, params)
        self._policy_name(params)
        return {"Policy": key.policy_text, "PolicyName": POLICY_NAME}

    def ListKeyPolicies(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Always ``["default"]``: a key has exactly one policy."""
        self._admitted(ctx, params)
        return self.paginate("ListKeyPolicies", [POLICY_NAME], params, str)

    @staticmethod
    def _policy_name(params: dict[str, Any]) -> None:
        name = params.get("PolicyName")
        if name is not None and name != POLICY_NAME:
            raise errors.NotFoundException(
                f"No such policy exists: {name!r}. The only key policy name is 'default'."
            )

    # -- tags -------------------------------------------------------------------------------
    def TagResource(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Add or overwrite tags (at most 50 per key; ``aws:`` keys are reserved)."""
        tags = self.tags_in(params["Tags"])
        key = self._admitted(ctx, params, extra=_tag_context(tags))
        merged = {**key.tags, **tags}
        if len(merged) > MAX_TAGS:
            raise TagException(
                TOO_MANY_TAGS, explanation=f"{key.arn} would have {len(merged)} tags; a KMS "
                f"key can have at most {MAX_TAGS}",
            )
        key.tags = merged
        key.changed()
        return {}

    def UntagResource(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Remove tags by key."""
        names = list(params["TagKeys"])
        key = self._admitted(ctx, params, extra={"aws:TagKeys": names})
        for name in names:
            key.tags.pop(name, None)
        key.changed()
        return {}

    def ListResourceTags(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The key's tags, sorted by key."""
        key = self._admitted(ctx, params)
        items = sorted(key.tags.items())
        return self.paginate(
            "ListResourceTags", items, params, lambda kv: {"TagKey": kv[0], "TagValue": kv[1]}
        )
