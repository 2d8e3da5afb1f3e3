"""The check ECS makes of a cluster's managed-storage KMS keys on CreateCluster/UpdateCluster.

ECS calls ``kms:DescribeKey`` *as the caller* (so the operator role needs kms:DescribeKey on
the key, as the seed page says) and accepts only a key that exists, is symmetric for
encryption (SYMMETRIC_DEFAULT, ENCRYPT_DECRYPT), is enabled, is not pending deletion and is a
single-Region key. Aliases are refused before KMS is asked. Every refusal is an
InvalidParameterException that names the key, the field and the problem; what to do about it
goes in ``explanation``.

The requirements are AWS's (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-create-storage-key.html:
"Multi-Region keys are not supported", "KMS key aliases are not supported", kms:DescribeKey
lets ECS check "the key is symmetric and enabled"), but the wording of the refusals is the
simulator's assumption: no recorded ECS answer to CreateCluster/UpdateCluster with an unusable
managed-storage key was found (searched: the API and developer guides, botocore's model,
moto/localstack, GitHub issues).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from simulator import errors
from simulator.arn import Arn

if TYPE_CHECKING:
    from simulator.service import CallContext

FARGATE_FIELD = "fargateEphemeralStorageKmsKeyId"
MANAGED_FIELD = "kmsKeyId"
FIELD_PATH = "configuration.managedStorageConfiguration"


def is_alias(key_id: str) -> bool:
    """True for ``alias/...`` or an alias ARN."""
    if key_id.startswith("alias/"):
        return True
    if key_id.startswith("arn:"):
        try:
            return Arn.parse(key_id).resource.startswith("alias/")
        except ValueError:
            return False
    return False


def _refuse(key_id: str, field: str, problem: str, advice: str | None = None
            ) -> errors.ClientError:
    """The refusal (its wording an assumption, see the module docstring)."""
    return errors.InvalidParameterException(
        f"The KMS key {key_id} given in {FIELD_PATH}.{field} cannot be used: {problem}",
        explanation=advice,
    )


def describe_as_caller(ctx: CallContext, key_id: str) -> dict[str, Any]:
    """DescribeKey through KMS's front door as the ECS caller (kms:ViaService = ECS)."""
    caller = ctx.caller
    kms = ctx.sim.client(
        "kms",
        principal=caller.session_arn or caller.arn,
        on_behalf_of=caller.account,
        via_service=f"ecs.{ctx.region}.amazonaws.com",
    )
    if caller.called_via:  # a call CloudFormation made for the caller: still in the chain
        kms.act_as(dataclasses.replace(kms.principal, called_via=caller.called_via,
                                       invoked_by=caller.invoked_by))
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]


def check_key(ctx: CallContext, key_id: str, field: str = FARGATE_FIELD) -> dict[str, Any]:
    """Validate one managed-storage key as ECS does; return its KeyMetadata."""
    if not key_id or not key_id.strip():
        raise errors.InvalidParameterException(
            f"{FIELD_PATH}.{field} must be a KMS key ID or key ARN, not an empty string."
        )
    if is_alias(key_id):
        raise _refuse(
            key_id, field, "it is an alias.",
            "give the key ID or key ARN; aliases are not supported for managed storage "
            "encryption",
        )
    try:
        meta = describe_as_caller(ctx, key_id)
    except errors.AccessDeniedException as exc:
        raise _refuse(
            key_id, field,
            f"kms:DescribeKey was denied to {ctx.caller.session_arn or ctx.caller.arn}. KMS "
            f"said: {exc.message}",
            "the principal that calls CreateCluster or UpdateCluster needs kms:DescribeKey on "
            "the key so ECS can check that it is symmetric and enabled"
            + (f" ({exc.explanation})" if exc.explanation else ""),
        ) from None
    except errors.NotFoundException:
        raise _refuse(key_id, field, "the key does not exist.") from None
    except errors.ClientError as exc:
        raise _refuse(
            key_id, field, f"kms:DescribeKey failed with {exc.code}: {exc.message}"
        ) from None
    spec = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    usage = meta.get("KeyUsage", "ENCRYPT_DECRYPT")
    state = meta.get("KeyState", "Enabled")
    if spec.startswith("HMAC"):
        raise _refuse(key_id, field, f"it is an HMAC key (KeySpec {spec}); ECS needs a "
                      "symmetric encryption key (SYMMETRIC_DEFAULT).",
                      "create a key with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT")
    if spec != "SYMMETRIC_DEFAULT":
        raise _refuse(key_id, field, f"it is an asymmetric key (KeySpec {spec}); ECS needs a "
                      "symmetric encryption key (SYMMETRIC_DEFAULT).",
                      "create a key with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT")
    if usage != "ENCRYPT_DECRYPT":
        raise _refuse(key_id, field, f"its KeyUsage is {usage}; ECS needs ENCRYPT_DECRYPT.",
                      "create a key with KeySpec SYMMETRIC_DEFAULT and KeyUsage ENCRYPT_DECRYPT")
    if state == "PendingDeletion":
        when = meta.get("DeletionDate")
        suffix = f" (deletion date {when:%Y-%m-%d})" if when is not None else ""
        raise _refuse(key_id, field, f"the key is pending deletion{suffix}.",
                      "cancel the deletion (kms:CancelKeyDeletion) and enable the key, or "
                      "choose another key")
    if state == "Disabled":
        raise _refuse(key_id, field, "the key is disabled.",
                      "enable it (kms:EnableKey) or choose another key")
    if state == "PendingImport":
        raise _refuse(key_id, field, "the key is in state PendingImport; ECS needs an "
                      "enabled key.",
                      "the key was made with Origin EXTERNAL and has no key material yet: "
                      "import it (kms:GetParametersForImport, then kms:ImportKeyMaterial), or "
                      "choose another key")
    if state != "Enabled" or meta.get("Enabled") is False:
        raise _refuse(key_id, field, f"the key is in state {state}; ECS needs an enabled key.",
                      "wait until the key is Enabled (kms:DescribeKey shows its KeyState), or "
                      "choose another key")
    if meta.get("MultiRegion"):
        raise _refuse(key_id, field, "it is a multi-Region key; managed storage encryption "
                      "needs a single-Region key.",
                      "ManagedStorageConfiguration: \"The key must be a single Region key.\"")
    return meta


def requested_keys(configuration: dict[str, Any] | None) -> dict[str, str]:
    """The managed-storage keys a CreateCluster/UpdateCluster request names, by field."""
    msc = (configuration or {}).get("managedStorageConfiguration") or {}
    return {f: msc[f] for f in (FARGATE_FIELD, MANAGED_FIELD) if msc.get(f) is not None}
