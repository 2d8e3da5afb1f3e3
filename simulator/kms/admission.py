"""Admission: what every KMS operation checks before it does its work, as one table.

``RULES`` says, per operation, which request member names the key and whether it may be an
alias, which request quota the call draws, whether a grant can allow it, the key states it runs
in and the key usage it needs. ``admit`` runs those steps in one order for every operation:

1. the operation's own request quota (CreateGrant, DescribeKey, ...), before the key is known;
2. resolve the key (NotFoundException) and name it in the CloudTrail record;
3. the cryptographic quota of the key's type (it needs the key);
4. grant tokens (InvalidGrantTokenException), the operation's own checks of the request, and
   authorization of ``kms:<Operation>`` by key policy, IAM policies and, where the table says
   so, grants; a caller without permission learns nothing about the key's state or usage;
5. for Decrypt and ReEncrypt, the key the request names must be the ciphertext's
   (IncorrectKeyException);
6. the key state (DisabledException, KMSInvalidStateException), then the key usage
   (InvalidKeyUsageException, or IncorrectKeyException for the key that must decrypt).

The key-state rules follow "Key states of AWS KMS keys"
(https://docs.aws.amazon.com/kms/latest/developerguide/key-state.html); the quotas "Request
quotas" (https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html); the
error texts are the ones AWS returns (recorded responses, see tests/kms/test_aws_errors.py).

Grants and eventual consistency: with ``Simulation(grant_propagation_seconds=N)`` a grant
allows nothing for N simulated seconds after it was created unless the request carries its
grant token, as AWS documents ("if a grant that is so new that it is not yet known to all of
AWS KMS, the request might fail with an AccessDeniedException error. To use the permissions in
a new grant immediately, use the grant token",
https://docs.aws.amazon.com/kms/latest/developerguide/using-grant-token.html).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from simulator import errors
from simulator.kms.grants import Grant
from simulator.kms.keys import DISABLED, ENABLED, PENDING_DELETION, PENDING_IMPORT, KmsKey
from simulator.kms.quotas import SYMMETRIC, crypto_quota
from simulator.kms.specs import ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, SIGN_VERIFY
from simulator.models import service_model

if TYPE_CHECKING:
    from simulator.kms.core import KmsCore
    from simulator.service import CallContext

#: Key states in which an operation may run (others raise AWS's error for the state).
CRYPTO = "crypto"  # Enabled only: Disabled -> DisabledException, else KMSInvalidStateException
MANAGE = "manage"  # Enabled, Disabled, PendingImport: PendingDeletion -> KMSInvalidStateException
ANY = "any"

#: Quota kinds besides a quota's name.
OWN = "own"  # the operation's own quota, named after the operation
KEY_TYPE = "key-type"  # the cryptographic quota of the key's type (symmetric, RSA, ECC, HMAC)

#: IncorrectKeyException's text as AWS returns it (recorded for Decrypt and ReEncrypt).
INCORRECT_KEY = (
    "The key ID in the request does not identify a CMK that can perform this operation."
)


@dataclass(frozen=True)
class Rule:
    """How one operation is admitted (see the module docstring for the order of the steps)."""

    #: The request member naming the key; None when the operation has no key (IAM policies
    #: alone decide) or finds the key itself (a ciphertext names it) and passes it to ``admit``.
    key: str | None = "KeyId"
    #: Whether the key may be named by an alias name or alias ARN.
    aliases: bool = False
    #: OWN, KEY_TYPE, a quota name, or None (no request quota simulated).
    quota: str | None = None
    #: Whether a grant of this operation can allow it.
    grants: bool = False
    #: CRYPTO, MANAGE, ANY or None (the operation checks the state itself, or has no key).
    states: str | None = MANAGE
    #: The key usage the operation needs (None: any).
    usage: str | None = None
    #: Only symmetric encryption keys (SYMMETRIC_DEFAULT): the data-key operations.
    symmetric: bool = False
    #: The error for a key of the wrong usage: the key that must decrypt (Decrypt, ReEncrypt's
    #: source) is an IncorrectKeyException in AWS, any other an InvalidKeyUsageException.
    wrong_usage: str = "InvalidKeyUsageException"
    #: Whether CloudTrail records the response (no: read-only and cryptographic operations).
    logs_response: bool = True
    #: Whether this step names its key in the record beside a key named before (ReEncryptTo).
    adds_resource: bool = False


#: Rule fields several operations share (keyword arguments of Rule).
_CRYPTO: dict[str, Any] = {"aliases": True, "quota": KEY_TYPE, "grants": True, "states": CRYPTO,
           "logs_response": False}
_ENCRYPTION: dict[str, Any] = {**_CRYPTO, "usage": ENCRYPT_DECRYPT}
_DATA_KEY: dict[str, Any] = {**_ENCRYPTION, "symmetric": True}
_READ: dict[str, Any] = {"logs_response": False}

#: Every KMS operation the simulator implements, by botocore name; the IAM action that
#: authorizes it is ``kms:`` and the row's name. ReEncrypt is admitted as its two IAM actions,
#: ReEncryptFrom (the source key) and ReEncryptTo (the destination).
RULES: dict[str, Rule] = {
    # keys
    "CreateKey": Rule(key=None, states=None),
    "DescribeKey": Rule(aliases=True, quota=OWN, grants=True, states=ANY, **_READ),
    "ListKeys": Rule(key=None, states=None, **_READ),
    "UpdateKeyDescription": Rule(),
    "EnableKey": Rule(),
    "DisableKey": Rule(),
    "ScheduleKeyDeletion": Rule(),
    "CancelKeyDeletion": Rule(states=ANY),  # only PendingDeletion: checked by the operation
    "PutKeyPolicy": Rule(states=ANY),
    "GetKeyPolicy": Rule(states=ANY, **_READ),
    "ListKeyPolicies": Rule(states=ANY, **_READ),
    "TagResource": Rule(),
    "UntagResource": Rule(),
    "ListResourceTags": Rule(states=ANY, **_READ),
    "GetKeyLastUsage": Rule(states=ANY, **_READ),
    # aliases
    "CreateAlias": Rule(key="TargetKeyId"),
    "UpdateAlias": Rule(key="TargetKeyId"),
    "DeleteAlias": Rule(key=None, states=ANY),  # the alias names the key
    "ListAliases": Rule(key=None, states=None, **_READ),
    # rotation
    "EnableKeyRotation": Rule(states=CRYPTO),
    "DisableKeyRotation": Rule(states=CRYPTO),
    "RotateKeyOnDemand": Rule(states=CRYPTO),
    "GetKeyRotationStatus": Rule(states=ANY, **_READ),
    "ListKeyRotations": Rule(states=ANY, **_READ),
    # imported key material (Enabled, Disabled or PendingImport keys)
    "GetParametersForImport": Rule(),
    "ImportKeyMaterial": Rule(),
    "DeleteImportedKeyMaterial": Rule(states=ANY),  # PendingDeletion too (it stays so)
    # grants
    "CreateGrant": Rule(quota=OWN, states=MANAGE),
    "ListGrants": Rule(quota=OWN, states=ANY, **_READ),
    "ListRetirableGrants": Rule(key=None, states=None, **_READ),
    "RetireGrant": Rule(key=None, quota=OWN, states=ANY),  # the grant token may name the key
    "RevokeGrant": Rule(quota=OWN, states=ANY),
    # cryptography
    "Encrypt": Rule(**_ENCRYPTION),
    "Decrypt": Rule(**{**_ENCRYPTION, "key": None, "wrong_usage": "IncorrectKeyException"}),
    "ReEncryptFrom": Rule(**{**_ENCRYPTION, "key": None, "wrong_usage": "IncorrectKeyException"}),
    "ReEncryptTo": Rule(**{**_ENCRYPTION, "key": None, "quota": None, "adds_resource": True}),
    "GenerateDataKey": Rule(**_DATA_KEY),
    "GenerateDataKeyWithoutPlaintext": Rule(**_DATA_KEY),
    "GenerateDataKeyPair": Rule(**_DATA_KEY),
    "GenerateDataKeyPairWithoutPlaintext": Rule(**_DATA_KEY),
    "GenerateRandom": Rule(key=None, quota=SYMMETRIC, states=None, logs_response=False),
    # asymmetric and HMAC keys
    "GetPublicKey": Rule(**_CRYPTO),
    "Sign": Rule(**_CRYPTO, usage=SIGN_VERIFY),
    "Verify": Rule(**_CRYPTO, usage=SIGN_VERIFY),
    "GenerateMac": Rule(**_CRYPTO, usage=GENERATE_VERIFY_MAC),
    "VerifyMac": Rule(**_CRYPTO, usage=GENERATE_VERIFY_MAC),
    "DeriveSharedSecret": Rule(**_CRYPTO, usage=KEY_AGREEMENT),
}


@cache
def takes_grant_tokens(operation: str) -> bool:
    """Whether the operation's request has a GrantTokens member (botocore's KMS model)."""
    name = "ReEncrypt" if operation.startswith("ReEncrypt") else operation
    shape = service_model("kms").operation_model(name).input_shape
    return shape is not None and "GrantTokens" in shape.members


class Admitted(NamedTuple):
    """An admitted request: its key (None for a keyless operation) and the alias naming it."""

    key: KmsKey | None
    alias: str | None
    #: The grant that allowed the request (None when a policy did, or not yet authorized).
    grant: Grant | None = None


def admit(
    core: KmsCore,
    ctx: CallContext,
    params: Mapping[str, Any],
    *,
    operation: str | None = None,
    key: KmsKey | None = None,
    alias: str | None = None,
    named: KmsKey | None = None,
    authorize: bool = True,
    validate: Callable[[KmsKey], None] | None = None,
    extra: Mapping[str, Any] | Callable[[KmsKey], Mapping[str, Any]] | None = None,
    encryption_context: Mapping[str, str] | None = None,
    grant_check: Callable[[Grant], bool] | None = None,
    resource_label: str | None = None,
    resource: str = "*",
) -> Admitted:
    """Run ``operation``'s admission steps (default: the call's operation) as ``RULES`` says.

    ``key`` is the key when the operation found it itself (from a ciphertext), ``named`` the
    key the request named beside it (Decrypt's KeyId). ``authorize=False`` stops after the
    audit record and quotas, for operations that authorize themselves. ``validate(key)``
    holds the operation's own checks of the request, run before authorization; ``extra`` the
    operation's condition keys (or a function of the key that returns them). A keyless
    operation is authorized by IAM policies alone, on ``resource``.
    """
    op = operation or ctx.operation
    rule = RULES[op]
    if not rule.logs_response:
        ctx.audit["responseElements"] = None
    quota = rule.quota
    if quota is not None and quota != KEY_TYPE:
        core.quotas.take(op if quota == OWN else quota, ctx.account)
    if rule.key is not None:
        key, alias = core.resolve_key(ctx, params[rule.key], aliases=rule.aliases)
    if key is not None:
        _audit_key(ctx, key, rule.adds_resource)
        if quota == KEY_TYPE:
            core.quotas.take(crypto_quota(key.spec.family), ctx.account)
    if not authorize:
        return Admitted(key, alias)
    if takes_grant_tokens(op):
        core.check_grant_tokens(params)
    if key is None:
        if validate is not None:
            raise TypeError("validate needs a key")  # pragma: no cover - a simulator bug
        keys = extra(None) if callable(extra) else extra  # type: ignore[arg-type]
        core.authorizer.authorize_identity(ctx, op, resource, keys)
        return Admitted(None, None)
    if validate is not None:
        validate(key)
    keys = extra(key) if callable(extra) else extra
    if alias and rule.aliases and not (keys and "kms:RequestAlias" in keys):
        keys = {**(keys or {}), "kms:RequestAlias": alias}
    unpropagated: list[Grant] = []
    if rule.grants and core.sim.grant_propagation_seconds:
        grant_check = grants_in_effect(core, ctx, params, grant_check, unpropagated)
    try:
        grant = core.authorizer.authorize(
            ctx, key, op, extra=keys or None, encryption_context=encryption_context,
            grant_operation=op if rule.grants else None, grant_check=grant_check,
            resource_label=resource_label,
            grant_tokens=(params.get("GrantTokens") or ()) if rule.grants else (),
        )
    except errors.AccessDeniedException as exc:
        if unpropagated:
            _explain_unpropagated(exc, unpropagated, core.sim.grant_propagation_seconds)
        raise
    if named is not None and named is not key:
        raise errors.IncorrectKeyException(
            INCORRECT_KEY,
            explanation=f"the ciphertext was encrypted under {key.arn}, not {named.arn}",
        )
    if key.state != ENABLED:
        require_state(key, rule.states)
    if (rule.usage is not None and key.key_usage != rule.usage) or (
            rule.symmetric and not key.symmetric_encryption):
        require_usage(key, rule, ctx.operation)
    return Admitted(key, alias, grant)


def _audit_key(ctx: CallContext, key: KmsKey, add: bool) -> None:
    """Name the key in the call's CloudTrail record, delivered to the key's account."""
    entry = {"accountId": key.account, "type": "AWS::KMS::Key", "ARN": key.arn}
    if add and ctx.audit.get("resources"):
        ctx.audit["resources"].append(entry)
        return
    ctx.audit["resources"] = [entry]
    ctx.audit["recipientAccountId"] = key.account


def grants_in_effect(
    core: KmsCore, ctx: CallContext, params: Mapping[str, Any],
    check: Callable[[Grant], bool] | None, skipped: list[Grant],
) -> Callable[[Grant], bool] | None:
    """``check`` plus eventual consistency: a grant younger than the simulation's
    ``grant_propagation_seconds`` counts only when the request carries its grant token
    (the grants it passed over go to ``skipped``)."""
    delay = core.sim.grant_propagation_seconds
    if not delay:
        return check
    cutoff = ctx.now - timedelta(seconds=delay)
    presented = {core.grants.grant_id_from_token(t) for t in params.get("GrantTokens") or ()}

    def usable(grant: Grant) -> bool:
        if grant.created > cutoff and grant.grant_id not in presented:
            skipped.append(grant)
            return False
        return check is None or check(grant)

    return usable


def _explain_unpropagated(exc: errors.ClientError, grants: list[Grant], delay: float) -> None:
    """Say beside AWS's AccessDenied that a grant exists but is not yet known to all of KMS."""
    lines = [
        f"grant {g.grant_id} was created at {g.created.isoformat()} and takes effect "
        f"{delay:g} s later (Simulation(grant_propagation_seconds={delay:g})); a request "
        "carrying its grant token can use it at once"
        for g in grants
    ]
    # The simulator's short reason would name the grant as allowing the request; say instead
    # why it did not (AWS's message stays as it is).
    exc.explanation = "; ".join(lines)
    evaluation = exc.details.get("evaluation")
    if isinstance(evaluation, dict):
        evaluation.setdefault("explanation", []).extend(lines)


def require_state(key: KmsKey, states: str | None) -> None:
    """Raise AWS's error for an operation allowed in ``states`` and the key's current state."""
    state = key.state
    if state == ENABLED or states in (ANY, None):
        return
    if state == DISABLED:
        if states == MANAGE:
            return
        raise errors.DisabledException(
            f"{key.arn} is disabled.",
            explanation="the KMS key is not enabled: EnableKey makes it usable again",
        )
    if state == PENDING_DELETION:
        raise errors.KMSInvalidStateException(
            f"{key.arn} is pending deletion.",
            explanation="the KMS key is scheduled for deletion: CancelKeyDeletion keeps it",
        )
    if state == PENDING_IMPORT:
        if states == MANAGE:
            return
        raise errors.KMSInvalidStateException(
            f"{key.arn} is pending import.",
            explanation="the KMS key has no key material yet (Origin EXTERNAL)",
        )
    raise errors.KMSInvalidStateException(f"{key.arn} is in state {state}.")


def require_origin(key: KmsKey, origin: str, explanation: str) -> None:
    """AWS's refusal of a key whose material has another origin (recorded for rotation)."""
    if key.origin != origin:
        raise errors.UnsupportedOperationException(
            f"{key.arn} origin is {key.origin} which is not valid for this operation.",
            explanation=explanation)


def require_usage(key: KmsKey, rule: Rule, operation: str) -> None:
    """Raise AWS's error when the key's usage (or type) cannot do ``operation``."""
    if rule.usage is not None and key.key_usage != rule.usage:
        explanation = f"{operation} needs a KMS key with KeyUsage {rule.usage}"
        if rule.wrong_usage == "IncorrectKeyException":
            raise errors.IncorrectKeyException(
                INCORRECT_KEY, explanation=f"{key.arn} has KeyUsage {key.key_usage}; "
                + explanation,
            )
        raise errors.InvalidKeyUsageException(
            f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}.",
            explanation=explanation,
        )
    if rule.symmetric and not key.symmetric_encryption:
        # AWS's sentence for the key usage, with the key spec in its place (as local-kms
        # words it; no response recorded from AWS).
        raise errors.InvalidKeyUsageException(
            f"{key.arn} key KeySpec is {key.key_spec} which is not valid for {operation}.",
            explanation=f"{operation} needs a symmetric encryption KMS key "
            "(KeySpec SYMMETRIC_DEFAULT)",
        )
