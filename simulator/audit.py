"""The audit trail: one CloudTrail-shaped record per API call, oldest first."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from simulator.iam.principal import Principal


def user_identity(caller: Principal) -> dict[str, Any]:
    """CloudTrail's ``userIdentity`` for a caller."""
    if caller.is_service:
        # The service that made the call on the customer's behalf: usually the principal
        # itself, but e.g. Fargate's data key comes through ec2-frontend-api.amazonaws.com.
        return {"type": "AWSService", "invokedBy": caller.invoked_by or caller.service}
    if caller.is_root:
        return {
            "type": "Root",
            "principalId": caller.account,
            "arn": caller.arn,
            "accountId": caller.account,
        }
    if caller.kind == "Role":
        session = caller.session_arn or (
            f"arn:aws:sts::{caller.account}:assumed-role/{caller.name}/fargate-sim"
        )
        return {
            "type": "AssumedRole",
            "principalId": f"{caller.unique_id}:{session.rsplit('/', 1)[-1]}",
            "arn": session,
            "accountId": caller.account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": caller.unique_id,
                    "arn": caller.arn,
                    "accountId": caller.account,
                    "userName": caller.name,
                }
            },
        }
    return {
        "type": "IAMUser",
        "principalId": caller.unique_id,
        "arn": caller.arn,
        "accountId": caller.account,
        "userName": caller.name,
    }


class AuditTrail(list):
    """A list of CloudTrail records with a few ways to look into it."""

    def filter(
        self,
        event_name: str | None = None,
        event_source: str | None = None,
        *,
        invoked_by: str | None = None,
        error_code: str | None = None,
        succeeded: bool | None = None,
    ) -> list[dict[str, Any]]:
        """Records matching every given criterion (``event_source`` may be ``"kms"``)."""
        out = []
        for rec in self:
            if event_name is not None and rec["eventName"] != event_name:
                continue
            if event_source is not None and rec["eventSource"] not in (
                event_source,
                f"{event_source}.amazonaws.com",
            ):
                continue
            if invoked_by is not None and rec["userIdentity"].get("invokedBy") != invoked_by:
                continue
            if error_code is not None and rec.get("errorCode") != error_code:
                continue
            if succeeded is not None and ("errorCode" not in rec) != succeeded:
                continue
            out.append(rec)
        return out

    def names(self, event_source: str | None = None) -> list[str]:
        """The event names in order, optionally of one service."""
        return [r["eventName"] for r in self.filter(event_source=event_source)]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return super().__iter__()
