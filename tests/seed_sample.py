"""The seed page's sample create-cluster response, for tests that compare against it."""

from __future__ import annotations

from typing import Any

SEED_KEY = "arn:aws:kms:us-west-2:012345678901:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"


def seed_cluster(key_arn: str = SEED_KEY, account: str = "012345678901",
                 name: str = "clusterName") -> dict[str, Any]:
    """The ``cluster`` of the seed's sample response (no model has its ``clusterCount``)."""
    return {
        "clusterArn": f"arn:aws:ecs:us-west-2:{account}:cluster/{name}",
        "clusterName": name,
        "configuration": {
            "managedStorageConfiguration": {"fargateEphemeralStorageKmsKeyId": key_arn}
        },
        "status": "ACTIVE",
        "registeredContainerInstancesCount": 0,
        "runningTasksCount": 0,
        "pendingTasksCount": 0,
        "activeServicesCount": 0,
        "statistics": [],
        "tags": [],
        "settings": [],
        "capacityProviders": [],
        "defaultCapacityProviderStrategy": [],
    }
