"""Grant operations: create (with Name idempotency), list, retire, revoke.

CreateGrant's request context carries ``kms:GrantOperations``, ``kms:GranteePrincipal`` (or
``kms:GranteeServicePrincipal``), ``kms:RetiringPrincipal``, ``kms:GrantConstraintType``,
``kms:GrantConstraintSourceArn``, ``kms:GrantIsForAWSResource`` and, as AWS documents,
``kms:EncryptionContext:<key>`` / ``kms:EncryptionContextKeys`` taken from the grant's
constraints (https://docs.aws.amazon.com/kms/latest/developerguide/grant-authorization.html).
A grant for an AWS service principal (``GranteeServicePrincipal``) must carry a ``SourceArn``
constraint and a retiring principal or retiring service principal
(https://docs.aws.amazon.com/kms/latest/APIReference/API_CreateGrant.html). A grant that
includes CreateGrant lets its grantee create grants for a subset of its operations with
constraints at least as strict as its own.
"""

from __future__ import annotations

import re
from typing import Any

from simulator import errors
from simulator.iam.principal import ACCOUNT_ID, Principal
from simulator.kms.authorization import encryption_context_keys, grantee_names
from simulator.kms.core import ANY, MANAGE, KmsCore
from simulator.kms.grants import CONTEXT_CONSTRAINTS, EQUALS, SOURCE_ARN, SUBSET, Grant, fold_keys
from simulator.kms.keys import KmsKey
from simulator.kms.specs import CONTEXT_OPERATIONS, grant_operations_for
from simulator.service import CallContext

_GRANT_ID = re.compile(r"^[0-9a-f]{64}$")
MAX_CONSTRAINT_PAIRS = 8
MAX_CONSTRAINT_CHARS = 384
_PRINCIPAL_ARN = re.compile(
    r"^arn:aws[a-z-]*:(?:iam::\d{12}:(?:root|role/.+|user/.+)|sts::\d{12}:assumed-role/.+/.+)$"
)
_SERVICE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.amazonaws\.com(?:\.cn)?$")


def _valid_principal(text: str) -> bool:
    return bool(_PRINCIPAL_ARN.match(text) or _SERVICE.match(text) or ACCOUNT_ID.match(text))


def _constraint_context(constraints: dict[str, Any] | None) -> dict[str, str]:
    merged: dict[str, str] = {}
    for kind in (SUBSET, EQUALS):
        merged.update((constraints or {}).get(kind) or {})
    return merged


def _at_least_as_strict(parent: Grant, constraints: dict[str, Any] | None) -> bool:
    """Whether a child grant's constraints are as strict as ``parent``'s (delegation)."""
    if not parent.constraints:
        return True
    if not constraints:
        return False
    if parent.source_arn is not None and constraints.get(SOURCE_ARN) != parent.source_arn:
        return False
    # Constraint keys are compared without regard to case, values exactly (as KMS does).
    equals = parent.constraints.get(EQUALS)
    if equals is not None and (
        constraints.get(EQUALS) is None or fold_keys(constraints[EQUALS]) != fold_keys(equals)
    ):
        return False
    subset = parent.constraints.get(SUBSET)
    if subset is not None:
        child = fold_keys(_constraint_context(constraints))
        return all(child.get(k.lower()) == v for k, v in subset.items())
    return True


def _one_of(params: dict[str, Any], first: str, second: str) -> str:
    """The value of exactly one of two members, as the KMS API reference requires of
    CreateGrant's grantee and ListRetirableGrants' retiring principal ("You must specify
    either RetiringPrincipal or RetiringServicePrincipal, but not both.")."""
    a, b = params.get(first), params.get(second)
    if (a is None) == (b is None):
        raise errors.ValidationException(
            f"You must specify either {first} or {second}, but not both."
        )
    return a if a is not None else b  # type: ignore[return-value]


def _service_filter_caller(ctx: CallContext, params: dict[str, Any], member: str) -> None:
    """Refuse a service-principal filter from a caller that is not a service principal:
    "This filter is only usable by callers in a service principal" (ListGrants,
    ListRetirableGrants). The error code is the simulator's reading: AWS does not document it."""
    if params.get(member) is not None and not ctx.caller.is_service:
        raise errors.AccessDeniedException(
            f"The {member} filter is only usable by callers in a service principal; "
            f"{ctx.caller.arn} is not one."
        )


def _names(principal: Principal, value: str | None) -> bool:
    return value is not None and value in grantee_names(principal)


class GrantOperations(KmsCore):
    """CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant."""

    def CreateGrant(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """A grant of some operations on one key to one principal."""
        key = self.admit_key(ctx, params)
        self.check_grant_tokens(params)
        grantee = _one_of(params, "GranteePrincipal", "GranteeServicePrincipal")
        grantee_is_service = params.get("GranteeServicePrincipal") is not None
        if (params.get("RetiringPrincipal") is not None
                and params.get("RetiringServicePrincipal") is not None):
            raise errors.ValidationException(
                "You can specify either RetiringPrincipal or RetiringServicePrincipal, but not "
                "both."
            )
        retiring_is_service = params.get("RetiringServicePrincipal") is not None
        retiring = params.get("RetiringServicePrincipal" if retiring_is_service
                              else "RetiringPrincipal")
        for label, value in (("GranteePrincipal", params.get("GranteePrincipal")),
                             ("RetiringPrincipal", params.get("RetiringPrincipal"))):
            if value is not None and not _valid_principal(value):
                raise errors.InvalidArnException(
                    f"ARN does not refer to a valid principal: {value} ({label})"
                )
        operations = list(dict.fromkeys(params["Operations"]))
        constraints = {k: (dict(v) if isinstance(v, dict) else v)
                       for k, v in (params.get("Constraints") or {}).items()
                       if v is not None} or None
        source_arn = (constraints or {}).get(SOURCE_ARN)
        if grantee_is_service:
            if source_arn is None:
                raise errors.ValidationException(
                    "When you specify a GranteeServicePrincipal, you must also specify a "
                    "SourceArn grant constraint."
                )
            if retiring is None:
                raise errors.ValidationException(
                    "When you specify a GranteeServicePrincipal, you must specify either a "
                    "RetiringPrincipal or a RetiringServicePrincipal."
                )
        self._validate_grant(key, operations, constraints)
        extra: dict[str, Any] = {
            "kms:GrantOperations": operations,
            ("kms:GranteeServicePrincipal" if grantee_is_service else "kms:GranteePrincipal"):
                grantee,
            "kms:GrantIsForAWSResource": bool(ctx.caller.is_service or ctx.via_service),
            **encryption_context_keys(_constraint_context(constraints)),
        }
        if retiring and not retiring_is_service:
            extra["kms:RetiringPrincipal"] = retiring
        if constraints:
            extra["kms:GrantConstraintType"] = sorted(constraints)
        if source_arn is not None:
            extra["kms:GrantConstraintSourceArn"] = source_arn
        wanted = set(operations)
        self.authorizer.authorize(
            ctx, key, "CreateGrant", extra=extra, grant_operation="CreateGrant",
            grant_check=self.grants_in_effect(
                ctx, params, lambda g: wanted <= g.ops and _at_least_as_strict(g, constraints)),
        )
        self.require_state(key, MANAGE)
        name = params.get("Name")
        grant = Grant(
            grant_id="", key_id=key.key_id, key_arn=key.arn, grantee=grantee,
            operations=tuple(operations), created=ctx.now,
            issuing_account=f"arn:{self.sim.partition}:iam::{ctx.account}:root",
            retiring=retiring, constraints=constraints, name=name,
            grantee_is_service=grantee_is_service, retiring_is_service=retiring_is_service,
        )
        existing = self.grants.named(key.key_id, name, grant.signature()) if name else None
        if existing is None and self.grants.count(key.key_id) >= self.quotas.grants_per_key:
            raise errors.LimitExceededException(
                f"The request was rejected because {key.arn} already has "
                f"{self.quotas.grants_per_key} grants, the quota of grants per KMS key."
            )
        self.dry_run(params)
        if existing is None:
            grant.grant_id = self.new_grant_id()
            self.grants.add(grant)
        else:
            grant = existing
        ctx.audit["responseElements"] = {"grantId": grant.grant_id}
        return {"GrantToken": self.grants.token_for(grant), "GrantId": grant.grant_id}

    @staticmethod
    def _validate_grant(
        key: KmsKey, operations: list[str], constraints: dict[str, Any] | None
    ) -> None:
        if not operations:
            raise errors.ValidationException("A grant must allow at least one operation.")
        if operations == ["CreateGrant"]:
            raise errors.ValidationException(
                "Grants must not contain only the CreateGrant operation."
            )
        valid = grant_operations_for(key.spec, key.key_usage)
        bad = [op for op in operations if op not in valid]
        if bad:
            raise errors.ValidationException(
                f"Grant operations {bad} are not valid for {key.arn}, a KMS key with KeySpec "
                f"{key.key_spec} and KeyUsage {key.key_usage}. Valid operations: "
                f"{sorted(valid)}."
            )
        context_constraints = {k: v for k, v in (constraints or {}).items()
                               if k in CONTEXT_CONSTRAINTS}
        if context_constraints:
            # CreateGrant Constraints: "Each constraint value can include up to 8 encryption
            # context pairs. The encryption context value in each constraint cannot exceed 384
            # characters."
            for kind, pairs in context_constraints.items():
                size = sum(len(k) + len(v) for k, v in pairs.items())
                if len(pairs) > MAX_CONSTRAINT_PAIRS or size > MAX_CONSTRAINT_CHARS:
                    raise errors.ValidationException(
                        f"Constraints.{kind} has {len(pairs)} encryption context pairs of "
                        f"{size} characters; a grant constraint may hold at most "
                        f"{MAX_CONSTRAINT_PAIRS} pairs and {MAX_CONSTRAINT_CHARS} characters."
                    )
            if not key.symmetric_encryption:
                raise errors.ValidationException(
                    "Grant constraints (EncryptionContextEquals, EncryptionContextSubset) are "
                    "supported only on symmetric encryption KMS keys: operations with "
                    f"{key.key_spec} keys take no encryption context."
                )
            if not (set(operations) & (CONTEXT_OPERATIONS | {"CreateGrant"})):
                raise errors.ValidationException(
                    f"Grant constraints apply only to cryptographic operations that take an "
                    f"encryption context; the grant allows only {operations}."
                )

    def ListGrants(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The key's grants, optionally filtered by GrantId, GranteePrincipal or (for callers
        that are service principals) GranteeServicePrincipal."""
        if (params.get("GranteePrincipal") is not None
                and params.get("GranteeServicePrincipal") is not None):
            raise errors.ValidationException(
                "You can specify either GranteePrincipal or GranteeServicePrincipal, but not "
                "both."
            )
        _service_filter_caller(ctx, params, "GranteeServicePrincipal")
        key = self.admit_key(ctx, params)
        self.authorizer.authorize(
            ctx, key, "ListGrants",
            extra={"kms:GrantIsForAWSResource": bool(ctx.caller.is_service or ctx.via_service)},
        )
        self.require_state(key, ANY)
        grant_id = params.get("GrantId")
        if grant_id is not None and not _GRANT_ID.match(grant_id):
            raise errors.InvalidGrantIdException(f"Invalid grant ID '{grant_id}'.")
        by_service = params.get("GranteeServicePrincipal") is not None
        grantee = params.get("GranteeServicePrincipal" if by_service else "GranteePrincipal")
        items = [
            g for g in self.grants.for_key(key.key_id)
            if (grant_id is None or g.grant_id == grant_id)
            and (grantee is None or (g.grantee == grantee and g.grantee_is_service == by_service))
        ]
        return self.paginate("ListGrants", items, params, Grant.entry, _grant_id)

    def ListRetirableGrants(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Grants whose RetiringPrincipal is the given principal (IAM policy decides), or
        whose RetiringServicePrincipal is the given service (for service principal callers,
        which have no IAM policies)."""
        retiring = _one_of(params, "RetiringPrincipal", "RetiringServicePrincipal")
        by_service = params.get("RetiringServicePrincipal") is not None
        if by_service:
            _service_filter_caller(ctx, params, "RetiringServicePrincipal")
        self.admit(ctx, params, authorize=not by_service)
        items = self.grants.retirable_by(retiring, service=by_service)
        return self.paginate("ListRetirableGrants", items, params, Grant.entry, _grant_id)

    def RetireGrant(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Delete a grant as its retiring principal, or its grantee if it allows RetireGrant.

        Anyone else needs ``kms:RetireGrant`` from the key policy; otherwise AccessDenied.
        """
        self.admit(ctx, params, authorize=False)
        token, key_ref, grant_id = (
            params.get("GrantToken"), params.get("KeyId"), params.get("GrantId")
        )
        if token:
            grant_id = self.grants.grant_id_from_token(token)
            if grant_id is None:
                raise errors.InvalidGrantTokenException("The grant token is invalid.")
            grant = self.grants.get(grant_id)
            if grant is None:
                raise errors.NotFoundException(f"Grant {grant_id} does not exist.")
            key = self.keys.get(grant.key_id)
            if key is None or not self.touch(key):
                raise errors.NotFoundException(f"Grant {grant_id} does not exist.")
        elif key_ref and grant_id:
            key, _ = self.resolve_key(ctx, key_ref, aliases=False)
            grant = self._grant_of(key, grant_id)
        else:
            raise errors.ValidationException(
                "Specify the grant to retire with GrantToken, or with both KeyId and GrantId."
            )
        self.audit_key(ctx, key)
        ctx.audit["additionalEventData"] = {"grantId": grant.grant_id}
        caller = ctx.caller
        # "This operation can be called by the retiring principal for a grant, by the grantee
        # principal if the grant allows the RetireGrant operation, and by the Amazon Web
        # Services account in which the grant is created."
        allowed = (
            _names(caller, grant.retiring)
            or ("RetireGrant" in grant.ops and _names(caller, grant.grantee))
            or (caller.is_root and grant.issuing_account.endswith(f":{caller.account}:root"))
        )
        if not allowed:
            self.authorizer.authorize(
                ctx, key, "RetireGrant",
                notes=[
                    f"{caller.arn} is neither the grant's retiring principal "
                    f"({grant.retiring}) nor its grantee ({grant.grantee}) with RetireGrant"
                ],
            )
        self.require_state(key, ANY)
        self.dry_run(params)
        self.grants.remove(grant.grant_id)
        return {}

    def RevokeGrant(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """Delete a grant with the key policy's (or IAM's) permission."""
        key = self.admit_key(ctx, params)
        self.authorizer.authorize(
            ctx, key, "RevokeGrant",
            extra={"kms:GrantIsForAWSResource": bool(ctx.caller.is_service or ctx.via_service)},
        )
        grant = self._grant_of(key, params["GrantId"])
        ctx.audit["additionalEventData"] = {"grantId": grant.grant_id}
        self.require_state(key, ANY)
        self.dry_run(params)
        self.grants.remove(grant.grant_id)
        return {}

    def _grant_of(self, key: KmsKey, grant_id: str) -> Grant:
        if not _GRANT_ID.match(grant_id):
            raise errors.InvalidGrantIdException(f"Invalid grant ID '{grant_id}'.")
        grant = self.grants.get(grant_id)
        if grant is None or grant.key_id != key.key_id:
            raise errors.NotFoundException(f"Grant {grant_id} does not exist on {key.arn}.")
        return grant


def _grant_id(grant: Grant) -> str:
    """What names a grant across pages of a listing (its entry changes as it is used)."""
    return grant.grant_id
