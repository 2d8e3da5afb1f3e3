"""Fargate's decision on how a task's ephemeral storage is encrypted.

Linux tasks on platform version 1.4.0 or later use the cluster's customer managed key when it
has one (``fargateEphemeralStorageKmsKeyId``), else a key Fargate owns; Windows tasks always use
a Fargate-owned key; Linux tasks before 1.4.0 have no documented encryption
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-storage-encryption.html).
"""

from __future__ import annotations

import re

from simulator.ecs import platforms

#: Values of the task attribute ``fargate-sim.ephemeral-storage.encryption``.
CUSTOMER_MANAGED_KEY = "CUSTOMER_MANAGED_KEY"
AWS_OWNED_KEY = "AWS_OWNED_KEY"
NOT_DOCUMENTED = "NONE_DOCUMENTED"
#: Storage of Linux tasks on platform versions before 1.4.0 (GB, as AWS states them).
LEGACY_LAYER_GB = 10
LEGACY_VOLUME_GB = 4


#: What an ECS attribute value may hold: 1-128 letters, digits, ``- _ . @ / \\ :`` or
#: spaces, not starting or ending with a space
#: (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Attribute.html).
_EDGE, _INNER = r"[A-Za-z0-9_.@/\\:-]", r"[A-Za-z0-9_.@/\\: -]"
ATTRIBUTE_VALUE = re.compile(f"{_EDGE}({_INNER}{{0,126}}{_EDGE})?")


def _unused(reason: str, cluster_key: str) -> str:
    """The ``cmk-unavailable`` attribute value: ``reason``, then the cluster key when the
    whole still fits ECS's 128-character attribute value."""
    with_key = f"{reason}: key {cluster_key} unused"
    return with_key if ATTRIBUTE_VALUE.fullmatch(with_key) else f"{reason}: cluster key unused"


def storage_encryption(
    os_family: str, platform_version: str, cluster_key: str | None
) -> tuple[str | None, str, str | None]:
    """(kmsKeyId, encryption attribute, why the CMK is not used) for a task about to launch.

    The reason is a task attribute value, so it keeps to ECS's attribute rules; either way no
    KMS call is made."""
    if platforms.is_windows(os_family):
        why = _unused("CMK not available for Windows", cluster_key) \
            if cluster_key else None
        return None, AWS_OWNED_KEY, why
    if not platforms.supports_cmk(platform_version, os_family):
        why = _unused(f"CMK needs platform 1.4.0 not {platform_version}", cluster_key) \
            if cluster_key else None
        return None, NOT_DOCUMENTED, why
    if cluster_key:
        return cluster_key, CUSTOMER_MANAGED_KEY, None
    return None, AWS_OWNED_KEY, None
