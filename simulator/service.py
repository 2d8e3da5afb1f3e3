"""The base of every simulated AWS service and the context each call runs in.

A service implements operations as methods named exactly as botocore names the operation
(``def CreateKey(self, ctx, params) -> dict``). Parameters arrive validated against the
botocore input shape; the method authorises, then changes state, then returns the output
shape as a dict (datetimes as ``datetime``, blobs as ``bytes``, as boto3 returns them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from simulator.iam.principal import Principal

if TYPE_CHECKING:
    from simulator.world import Simulation


@dataclass(slots=True)
class CallContext:
    """One API call: who makes it, when, and what the audit record should add."""

    sim: Simulation
    caller: Principal
    service: str
    operation: str
    request_id: str
    now: datetime
    region: str
    via_service: str | None = None
    source_ip: str = "192.0.2.10"
    user_agent: str = "fargate-sim"
    #: The ARN of the resource an AWS service makes this request on behalf of (what
    #: ``aws:SourceArn`` and a KMS grant's SourceArn constraint see), or None.
    source_arn: str | None = None
    #: Extra fields for this call's CloudTrail record (resources, additionalEventData,
    #: recipientAccountId, responseElements override ...), set by the service.
    audit: dict[str, Any] = field(default_factory=dict)
    #: Entries CloudTrail adds to requestParameters beyond what the caller sent (KMS logs
    #: the encryption algorithm and key of a Decrypt even when the request left them out).
    audit_params: dict[str, Any] = field(default_factory=dict)

    @property
    def account(self) -> str:
        """The caller's account (for a service principal: the account it acts for)."""
        return self.caller.account


class Service:
    """Base class: a simulated AWS service bound to one Simulation."""

    service_name: ClassVar[str] = ""
    event_source: ClassVar[str] = ""
    #: The error raised for violations of the model's server-side constraints.
    constraint_error: ClassVar[str] = "ValidationException"
    #: CloudTrail writes request parameter names with a lower-case first letter.
    cloudtrail_lower_names: ClassVar[bool] = True
    #: Request parameters the audit trail never shows (bearer credentials such as grant
    #: tokens), on top of the members the model marks sensitive.
    audit_omit: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
