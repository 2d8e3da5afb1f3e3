"""``KmsService``: the simulated AWS KMS, one per Simulation (``sim.service("kms")``).

Callers use it through the front door, as boto3 would::

    kms = sim.client("kms", principal="arn:aws:iam::111122223333:role/Operator")
    key = kms.create_key(Description="ephemeral storage")["KeyMetadata"]
    fargate = sim.client("kms", principal="fargate.amazonaws.com")
    fargate.generate_data_key_without_plaintext(KeyId=key["Arn"], NumberOfBytes=64,
                                                EncryptionContext={...})

The operations live in one module per concern (``ops_keys``, ``ops_aliases``, ``ops_grants``,
``ops_crypto``, ``ops_rotation``, ``ops_signing``, ``ops_import``); the shared state and
steps in ``core``; what each operation checks before it runs in one table,
``admission.RULES``.
``service.quotas`` holds the request-rate quotas (``quotas.set("CreateGrant", 5)``) and
``quotas.grants_per_key``.
"""

from __future__ import annotations

from simulator.kms.ops_aliases import AliasOperations
from simulator.kms.ops_crypto import CryptoOperations
from simulator.kms.ops_grants import GrantOperations
from simulator.kms.ops_import import ImportOperations
from simulator.kms.ops_keys import KeyOperations
from simulator.kms.ops_rotation import RotationOperations
from simulator.kms.ops_signing import SigningOperations
from simulator.kms.ops_usage import UsageOperations


class KmsService(
    KeyOperations,
    AliasOperations,
    GrantOperations,
    CryptoOperations,
    RotationOperations,
    SigningOperations,
    ImportOperations,
    UsageOperations,
):
    """The simulated KMS: keys, aliases, grants, key policies and the cryptography."""

    def restored(self) -> None:
        """Keys saved before rotations and imported material expiries were set on the
        simulated clock get them now, so they still happen when due; keys saved before their
        last usage was tracked are tracked from now (GetKeyLastUsage's TrackingStartDate)."""
        now = self.sim.clock.now()
        for key in self.keys.values():
            if "usage_tracked_since" not in vars(key):
                key.usage_tracked_since = now
            if key.rotation_enabled and key.next_rotation and key.rotation_call is None:
                self.schedule_rotation(key)
            if key.valid_to is not None and key.expiry is None:
                self.schedule_expiry(key)
