"""The state of the simulated KMS and the steps every operation shares.

``KmsCore`` holds the keys, aliases and grants of every account in the simulation's Region and
offers the common steps: resolving a key reference (key id, key ARN, alias name, alias ARN),
the key lifecycle on the simulated clock (deletion when the waiting period ends, automatic
rotation), admission (``admission.RULES``: quotas, authorization, key-state and key-usage
gates with AWS's errors), dry runs and pagination. The operation
modules (``ops_*.py``) build on it; ``service.KmsService`` puts them together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from simulator import errors, paging
from simulator.kms import admission
from simulator.kms.admission import ANY, CRYPTO, MANAGE, Admitted  # noqa: F401 (re-exported)
from simulator.kms.authorization import Authorizer
from simulator.kms.grants import Grant, GrantStore
from simulator.kms.keypolicy import default_policy, parse_key_policy
from simulator.kms.keys import ENABLED, PENDING_DELETION, Alias, KeyMaterial, KmsKey
from simulator.kms.quotas import KmsQuotas
from simulator.service import CallContext, Service

if TYPE_CHECKING:
    from simulator.clock import ScheduledCall
    from simulator.service import SimulationSurface

T = TypeVar("T")

KEY_ID = re.compile(
    r"^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$"
)
ALIAS_NAME = re.compile(r"^alias/[a-zA-Z0-9/_-]+$")
DRY_RUN_MESSAGE = "The request would have succeeded, but the DryRun option is set."
InvalidMarkerException = errors.error_class("InvalidMarkerException")


class KmsMarkers:
    """KMS's page tokens: opaque (base64 of the page's position, ``paging.Position``); each
    operation has its own default Limit."""

    def read(self, token: str) -> paging.Position:
        """The position a Marker names; InvalidMarkerException when it is not one KMS gave."""
        try:
            return paging.unpacked_token(token)
        except ValueError:
            raise InvalidMarkerException(
                "The request was rejected because the marker is invalid.",
                explanation="pass the NextMarker of the previous page unchanged") from None

    def write(self, position: paging.Position) -> str:
        """The NextMarker of the page at ``position``."""
        return paging.packed_token(position)

    def size(self, limit: int | None, default: int | None) -> int:
        """Limit, or the operation's default (``KmsCore.paginate`` caps it at the maximum)."""
        return limit or default or 100


#: Each listing's documented Limit: "If you include a value, it must be between 1 and N,
#: inclusive. If you do not include a value, it defaults to D." (the operation's page in
#: https://docs.aws.amazon.com/kms/latest/APIReference/). The model allows 1-1000 for all.
LIST_LIMITS: dict[str, tuple[int, int]] = {  # operation: (default, maximum)
    "ListAliases": (50, 100),
    "ListGrants": (50, 100),
    "ListRetirableGrants": (50, 100),
    "ListKeys": (100, 1000),
    "ListKeyPolicies": (100, 1000),
    "ListKeyRotations": (100, 1000),
    "ListResourceTags": (50, 50),
}


MARKERS = KmsMarkers()
TagException = errors.error_class("TagException")

#: Operations the KMS API reference marks "Cross-account use: No": they work only on keys of
#: the caller's own account (a key ARN from another account is not found).
SAME_ACCOUNT_ONLY = frozenset({
    "CancelKeyDeletion", "CreateAlias", "DeleteAlias", "DeleteImportedKeyMaterial", "DisableKey",
    "DisableKeyRotation", "EnableKey", "EnableKeyRotation", "GetKeyLastUsage", "GetKeyPolicy",
    "GetParametersForImport", "ImportKeyMaterial", "ListAliases", "ListKeyPolicies",
    "ListKeyRotations", "ListResourceTags", "PutKeyPolicy", "ReplicateKey", "RotateKeyOnDemand",
    "ScheduleKeyDeletion", "TagResource", "UntagResource", "UpdateAlias", "UpdateKeyDescription",
    "UpdatePrimaryRegion",
})

class KmsCore(Service):
    """State and shared steps of the simulated KMS (see the module docstring)."""

    service_name: ClassVar[str] = "kms"
    event_source: ClassVar[str] = "kms.amazonaws.com"
    #: Grant tokens are bearer credentials: CloudTrail's RetireGrant record has
    #: requestParameters null and the grant id in additionalEventData.
    audit_omit: ClassVar[frozenset[str]] = frozenset({"GrantToken", "GrantTokens"})

    def __init__(self, sim: SimulationSurface) -> None:
        super().__init__(sim)
        self.keys: dict[str, KmsKey] = {}
        #: ARNs of deleted keys by key id (their ciphertexts give NotFoundException).
        self.deleted_keys: dict[str, str] = {}
        self.aliases: dict[tuple[str, str], Alias] = {}
        self.grants = GrantStore()
        self.quotas = KmsQuotas(sim.rate_limiter, sim.region)
        self.authorizer = Authorizer(self)
        self._deletions: dict[str, ScheduledCall] = {}
        self._chosen_key_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"KmsService(region={self.sim.region!r}, keys={len(self.keys)}, "
            f"aliases={len(self.aliases)}, grants={len(self.grants)})"
        )

    # -- identifiers --------------------------------------------------------------------
    def _hex(self, nbytes: int) -> str:
        return self.sim.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def new_key_id(self, multi_region: bool) -> str:
        """A fresh key id: a UUID, or ``mrk-`` and 32 hex digits for a multi-Region key."""
        if self._chosen_key_id is not None:
            return self._chosen_key_id
        h = self._hex(16)
        if multi_region:
            return "mrk-" + h
        h = h[:12] + "4" + h[13:16] + "89ab"[int(h[16], 16) & 3] + h[17:]
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def new_material_id(self) -> str:
        """A KeyMaterialId: 64 hex digits."""
        return self._hex(32)

    def new_grant_id(self) -> str:
        """A grant id: 64 hex digits, as AWS's."""
        return self._hex(32)

    def key_arn(self, account: str, key_id: str) -> str:
        return f"arn:{self.sim.partition}:kms:{self.sim.region}:{account}:key/{key_id}"

    def alias_arn(self, account: str, name: str) -> str:
        return f"arn:{self.sim.partition}:kms:{self.sim.region}:{account}:{name}"

    def default_policy_doc(self, account: str) -> tuple[str, Any]:
        """AWS's default key policy for ``account``: its text and parsed document."""
        text = default_policy(account, self.sim.partition)
        return text, parse_key_policy(text)

    # -- resolving keys -----------------------------------------------------------------
    def resolve_key(
        self, ctx: CallContext, ref: str, *, aliases: bool = True
    ) -> tuple[KmsKey, str | None]:
        """The key ``ref`` names and the alias it was named by (None when named directly).

        ``aliases=False`` for operations whose KeyId accepts only a key id or key ARN.
        Raises NotFoundException as AWS does for unknown, deleted, other-Region and malformed
        references. Also brings the key's lifecycle up to date with the simulated clock.
        """
        # The common case first: a key id or key ARN of a usable key.
        if ref.startswith("arn:"):
            key = self.keys.get(ref.rpartition("/")[2])
            if key is not None and key.arn == ref and self.touch(key) and (
                    key.account == ctx.account or ctx.operation not in SAME_ACCOUNT_ONLY):
                return key, None
        else:
            key = self.keys.get(ref)
            if key is not None and key.account == ctx.account and self.touch(key):
                return key, None
        account = ctx.account
        alias_name: str | None = None
        if ref.startswith("arn:"):
            parts = ref.split(":", 5)
            if len(parts) != 6 or parts[2] != "kms" or not parts[5]:
                raise errors.NotFoundException(f"Invalid keyId '{ref}'")
            region, account, resource = parts[3], parts[4], parts[5]
            if resource.startswith("key/"):
                key_id = resource[4:]
            elif resource.startswith("alias/") and aliases:
                alias_name = resource
                key_id = ""
            else:
                raise errors.NotFoundException(f"Invalid keyId '{ref}'")
            if region != self.sim.region:
                raise errors.NotFoundException(
                    f"Invalid arn {region}",
                    explanation=f"{ref} is in {region}; the simulation's Region is "
                    f"{self.sim.region}",
                )
        elif ref.startswith("alias/"):
            if not aliases:
                raise errors.NotFoundException(f"Invalid keyId '{ref}'")
            alias_name = ref
            key_id = ""
        else:
            key_id = ref
        if alias_name is not None:
            alias = self.aliases.get((account, alias_name))
            if alias is None:
                raise errors.NotFoundException(
                    f"Alias {self.alias_arn(account, alias_name)} is not found."
                )
            key_id = alias.target_key_id
        elif not KEY_ID.match(key_id) and key_id not in self.keys:
            raise errors.NotFoundException(f"Invalid keyId '{ref}'")
        key = self.keys.get(key_id)
        if key is None or key.account != account or not self.touch(key):
            raise errors.NotFoundException(f"Key '{self.key_arn(account, key_id)}' does not exist")
        if account != ctx.account and ctx.operation in SAME_ACCOUNT_ONLY:
            raise errors.NotFoundException(
                f"Key '{key.arn}' does not exist in account {ctx.account}: {ctx.operation} "
                "cannot use a KMS key in a different AWS account."
            )
        return key, alias_name

    def has_key(self, key_id: str) -> bool:
        """True when a key with this id exists (in any state) in the simulation."""
        return key_id in self.keys

    def create_key_with_id(
        self, key_id: str, *, policy: dict[str, Any] | str | None = None,
        principal: str | None = None, **params: Any,
    ) -> dict[str, Any]:
        """Create a key whose id is chosen, through the front door (CreateKey as ``principal``).

        For replaying examples that name a key, such as the AWS documentation's
        ``a1b2c3d4-5678-90ab-cdef-EXAMPLE11111``; returns the KeyMetadata.
        """
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", key_id):
            raise errors.ValidationException(f"{key_id!r} cannot be a key id")
        if key_id in self.keys:
            raise errors.AlreadyExistsException(f"Key {key_id} already exists")
        if policy is not None:
            params["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
        self._chosen_key_id = key_id
        try:
            kms = self.sim.client("kms", principal=principal)
            return kms.create_key(**params)["KeyMetadata"]
        finally:
            self._chosen_key_id = None

    # -- lifecycle on the simulated clock ---------------------------------------------------
    def touch(self, key: KmsKey) -> bool:
        """Apply what the clock says is due (deletion, automatic rotation); False if deleted."""
        if key.state == PENDING_DELETION or key.rotation_enabled:
            now = self.sim.clock.now()
            if key.state == PENDING_DELETION and key.deletion_date and key.deletion_date <= now:
                self.destroy(key)
                # KMS records the deletion itself (https://docs.aws.amazon.com/kms/latest/
                # developerguide/ct-delete-key.html; entries since December 2022 name the
                # key's ARN in responseElements.keyId).
                self.sim.record_service_event(
                    "kms.amazonaws.com", "DeleteKey", key.account,
                    [{"accountId": key.account, "type": "AWS::KMS::Key", "ARN": key.arn}],
                    response={"keyId": key.arn})
                return False
            # AWS rotates only an enabled key: "while the KMS key is disabled, KMS does not
            # rotate the key material" (and none while it is pending deletion).
            rotated = False
            while (key.state == ENABLED and key.rotation_enabled and key.next_rotation
                   and key.next_rotation <= now):
                self.rotate(key, "AUTOMATIC", when=key.next_rotation)
                key.next_rotation = key.next_rotation + timedelta(days=key.rotation_period_days)
                rotated = True
            if rotated:
                self.schedule_rotation(key)
        return True

    def resume_rotation(self, key: KmsKey, now: Any) -> None:
        """A key enabled again: AWS rotates at once if a rotation fell due while it was
        disabled ("KMS rotates it immediately"), else the prior schedule resumes."""
        if key.rotation_enabled and key.next_rotation is not None and key.next_rotation <= now:
            self.rotate(key, "AUTOMATIC", when=now, after_call=True)
            key.next_rotation = now + timedelta(days=key.rotation_period_days)
        self.schedule_rotation(key)

    def schedule_rotation(self, key: KmsKey) -> None:
        """Rotate the key when its next automatic rotation falls due on the simulated clock
        (so the rotation, and its CloudTrail event, happen then, not when the key is next
        used); nothing when rotation is off."""
        if key.rotation_call is not None:
            key.rotation_call.cancel()
            key.rotation_call = None
        if not key.rotation_enabled or key.next_rotation is None:
            return
        key_id = key.key_id

        def due() -> None:
            k = self.keys.get(key_id)
            if k is not None:
                k.rotation_call = None
                self.touch(k)

        key.rotation_call = self.sim.clock.call_at(key.next_rotation, due)

    def schedule_destruction(self, key: KmsKey) -> None:
        """Destroy the key when its waiting period ends on the simulated clock."""
        self.cancel_destruction(key)
        key_id = key.key_id
        assert key.deletion_date is not None

        def due() -> None:
            k = self.keys.get(key_id)
            if k is not None:
                self.touch(k)

        self._deletions[key_id] = self.sim.clock.call_at(key.deletion_date, due)

    def cancel_destruction(self, key: KmsKey) -> None:
        call = self._deletions.pop(key.key_id, None)
        if call is not None:
            call.cancel()

    def destroy(self, key: KmsKey) -> None:
        """Delete a key for good: destroy its material, its aliases and its grants."""
        for material in key.materials.values():
            material.destroy()
        key.private_key = None
        key.policy_doc = None
        self.keys.pop(key.key_id, None)
        self.deleted_keys[key.key_id] = key.arn
        self._deletions.pop(key.key_id, None)
        for name in list(key.aliases):
            self.aliases.pop((key.account, name), None)
        key.aliases.clear()
        self.grants.remove_key(key.key_id)
        key.state = "Deleted"  # the record may linger in callers' hands; it is unusable

    def rotate(self, key: KmsKey, rotation_type: str, when: Any = None,
               after_call: bool = False) -> KeyMaterial:
        """Add a new material version; it becomes current (older ones still decrypt). An
        automatic rotation is KMS's own event in CloudTrail (RotateKey, an AwsServiceEvent:
        https://docs.aws.amazon.com/kms/latest/developerguide/ct-rotatekey.html)."""
        previous = key.current_material_id
        material = KeyMaterial.generate(
            self.new_material_id(), when or self.sim.clock.now(), rotation_type=rotation_type
        )
        key.materials[material.material_id] = material
        key.current_material_id = material.material_id
        key.changed()
        if rotation_type == "AUTOMATIC":
            self.sim.record_service_event(
                "kms.amazonaws.com", "RotateKey", key.account,
                [{"accountId": key.account, "type": "AWS::KMS::Key", "ARN": key.arn}],
                details={"rotationType": "AUTOMATIC", "keyId": key.key_id,
                         "keyOrigin": key.origin, "previousKeyMaterialId": previous,
                         "currentKeyMaterialId": material.material_id},
                when=when, after_call=after_call)
        return material

    # -- gates --------------------------------------------------------------------------
    #: ``self.admit(ctx, params, **options)``: the operation's admission steps from
    #: ``admission.RULES`` (see ``admission.admit``).
    admit = admission.admit

    def admit_key(self, ctx: CallContext, params: dict[str, Any]) -> KmsKey:
        """The request's key, admitted up to authorization, for an operation that authorizes
        itself (the grant operations)."""
        key = admission.admit(self, ctx, params, authorize=False).key
        assert key is not None
        return key

    def grants_in_effect(
        self, ctx: CallContext, params: dict[str, Any], check: Callable[[Grant], bool] | None
    ) -> Callable[[Grant], bool] | None:
        """``check`` limited to grants that have propagated or whose token the request carries
        (``Simulation(grant_propagation_seconds=...)``), for operations that authorize
        themselves."""
        return admission.grants_in_effect(self, ctx, params, check, [])

    @staticmethod
    def require_state(key: KmsKey, kind: str) -> None:
        """Raise the error AWS gives for an operation of ``kind`` in the key's current state."""
        admission.require_state(key, kind)

    def throttle(self, ctx: CallContext, quota: str) -> None:
        """Consume one request of ``quota`` for the caller's account (ThrottlingException)."""
        self.quotas.take(quota, ctx.account)

    @staticmethod
    def dry_run(params: dict[str, Any]) -> None:
        """Stop a request that passed every check when it asked for a dry run."""
        if params.get("DryRun"):
            raise errors.DryRunOperationException(DRY_RUN_MESSAGE)

    def check_grant_tokens(self, params: Mapping[str, Any]) -> None:
        """Refuse malformed or forged grant tokens (InvalidGrantTokenException)."""
        for token in params.get("GrantTokens") or ():
            if self.grants.grant_id_from_token(token) is None:
                raise errors.InvalidGrantTokenException("The grant token is invalid.")

    @staticmethod
    def read_only(ctx: CallContext) -> None:
        """CloudTrail logs no response elements for KMS's read-only (Describe/Get/List) calls."""
        ctx.audit["responseElements"] = None

    @staticmethod
    def audit_key(ctx: CallContext, key: KmsKey) -> None:
        """Name the key in the call's CloudTrail record, delivered to the key's account."""
        ctx.audit["resources"] = [
            {"accountId": key.account, "type": "AWS::KMS::Key", "ARN": key.arn}
        ]
        ctx.audit["recipientAccountId"] = key.account

    # -- helpers ------------------------------------------------------------------------
    @staticmethod
    def paginate(
        operation: str, items: list[T], params: dict[str, Any], render: Callable[[T], Any],
        key: Callable[[T], Any] | None = None,
    ) -> dict[str, Any]:
        """A page of ``items`` with AWS's Limit / Marker / NextMarker / Truncated (``key``
        names an item across pages; its rendered form by default).

        A Limit above the operation's documented maximum returns that maximum and a
        NextMarker: the model accepts up to 1000 everywhere, and KMS "might return fewer"
        than Limit, so a client asking for more still pages through everything."""
        default, maximum = LIST_LIMITS[operation]
        limit = params.get("Limit")
        if limit is not None and limit > maximum:
            params = {**params, "Limit": maximum}
        return paging.page("kms", operation, items, params, MARKERS,
                           default_limit=default, render=render, key=key)

    @staticmethod
    def tags_in(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
        """A Tags parameter as a dict, refused as AWS does (TagException): keys beginning with
        ``aws:`` (any case) are reserved, a key may appear once."""
        out: dict[str, str] = {}
        for tag in tags or ():
            key = tag["TagKey"]
            if key.lower().startswith("aws:"):
                raise TagException(
                    "Tags beginning with aws: are reserved",
                    explanation=f"tag key {key!r} begins with aws:",
                )
            if key in out:
                raise TagException(
                    "Duplicate tag keys", explanation=f"tag key {key!r} appears more than once"
                )
            out[key] = tag["TagValue"]
        return out
