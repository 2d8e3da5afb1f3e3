"""Key last usage: what KMS records of each key's last successful cryptographic operation,
and GetKeyLastUsage, which returns it.

"Returns usage information about the last successful cryptographic operation performed with
a specified KMS key, including the operation type, timestamp, and associated CloudTrail event
ID" (https://docs.aws.amazon.com/kms/latest/APIReference/API_GetKeyLastUsage.html). The
operations that count are the values of botocore's ``KeyLastUsageTrackingOperation`` enum;
a call that fails (a dry run, a signature that does not verify, a wrong encryption context)
records nothing. ReEncrypt counts for both its keys. AWS says a record may take up to an
hour to appear; the simulator records it at once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from simulator.client import uuid4_text
from simulator.kms.core import KmsCore
from simulator.models import service_model
from simulator.service import CallContext


@cache
def tracked_operations() -> frozenset[str]:
    """The operations whose success is a key's last usage (botocore's KMS model)."""
    shape = service_model("kms").shape_for("KeyLastUsageData").members["Operation"]
    return frozenset(shape.enum)


class UsageOperations(KmsCore):
    """GetKeyLastUsage, and the recording of each key's last usage."""

    def call_succeeded(self, ctx: CallContext, event_bits: int) -> None:
        """Record a successful cryptographic operation as the last usage of each key its
        CloudTrail record names (two for ReEncrypt)."""
        if ctx.operation not in tracked_operations():
            return
        usage: dict[str, Any] | None = None
        for entry in ctx.audit.get("resources") or ():
            key = self.keys.get(entry["ARN"].rpartition("/")[2])
            if key is None:
                continue
            if usage is None:
                usage = {"Operation": ctx.operation, "Timestamp": ctx.now,
                         "CloudTrailEventId": uuid4_text(event_bits),
                         "KmsRequestId": ctx.request_id}
            key.last_usage = usage

    def GetKeyLastUsage(self, ctx: CallContext, params: dict[str, Any]) -> dict[str, Any]:
        """The key's last successful cryptographic operation (an empty KeyLastUsage when it
        has none since tracking began), the date tracking began and the key's creation
        date; any key state, the caller's own keys only, no aliases."""
        key = self.admit(ctx, params).key
        assert key is not None
        return {
            "KeyId": key.key_id,
            "KeyLastUsage": dict(key.last_usage or {}),
            # "the date from which KMS began recording cryptographic activity for this key,
            # or the date the KMS key was created, whichever is later"
            "TrackingStartDate": key.usage_tracked_since or key.created,
            "KeyCreationDate": key.created,
        }
