"""Fargate's decision on how a task's ephemeral storage is encrypted.

Linux tasks on platform version 1.4.0 or later use the cluster's customer managed key when it
has one (``fargateEphemeralStorageKmsKeyId``), else a key Fargate owns; Windows tasks always use
a Fargate-owned key; Linux tasks before 1.4.0 have no documented encryption
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-storage-encryption.html).
"""

from __future__ import annotations

from simulator.ecs import platforms

#: Values of the task attribute ``fargate-sim.ephemeral-storage.encryption``.
CUSTOMER_MANAGED_KEY = "CUSTOMER_MANAGED_KEY"
AWS_OWNED_KEY = "AWS_OWNED_KEY"
NOT_DOCUMENTED = "NONE_DOCUMENTED"
#: Storage of Linux tasks on platform versions before 1.4.0 (GB, as AWS states them).
LEGACY_LAYER_GB = 10
LEGACY_VOLUME_GB = 4


def storage_encryption(
    os_family: str, platform_version: str, cluster_key: str | None
) -> tuple[str | None, str, str | None]:
    """(kmsKeyId, encryption attribute, why the CMK is not used) for a task about to launch."""
    if platforms.is_windows(os_family):
        why = None
        if cluster_key:
            why = (
                "Fargate ephemeral storage encryption with customer managed keys is not "
                f"available for Windows tasks ({os_family}); the cluster key {cluster_key} "
                "is not used and no KMS call is made."
            )
        return None, AWS_OWNED_KEY, why
    if not platforms.supports_cmk(platform_version, os_family):
        why = None
        if cluster_key:
            why = (
                "Fargate ephemeral storage encryption with customer managed keys needs platform "
                f"version 1.4.0 or later; this task runs {platform_version}, so the "
                f"cluster key {cluster_key} is not used and no KMS call is made."
            )
        return None, NOT_DOCUMENTED, why
    if cluster_key:
        return cluster_key, CUSTOMER_MANAGED_KEY, None
    return None, AWS_OWNED_KEY, None
