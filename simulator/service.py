"""The base of every simulated AWS service, the context each call runs in, and the surface
of the simulation that both see.

A service implements operations as methods named exactly as botocore names the operation
(``def CreateKey(self, ctx, params) -> dict``). Parameters arrive validated against the
botocore input shape; the method authorises, then changes state, then returns the output
shape as a dict (datetimes as ``datetime``, blobs as ``bytes``, as boto3 returns them).

Services, the front door (``simulator.client``) and the Fargate agent see the simulation only
through ``SimulationSurface``, a protocol that ``simulator.world.Simulation`` satisfies; so
nothing below the world imports it, and the imports run one way: world -> services -> here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from simulator.iam.principal import Principal

if TYPE_CHECKING:
    import random

    from botocore.model import OperationModel

    from simulator.audit import RecordedError
    from simulator.clock import SimClock
    from simulator.errors import ClientError
    from simulator.idempotency import TokenCache
    from simulator.quotas import RateLimiter


class ServiceClient(Protocol):
    """A boto3-shaped client as ``SimulationSurface.client`` returns it
    (``simulator.client.Client``): boto3's method names, calling as one principal."""

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run ``operation`` (botocore's name, e.g. ``CreateKey``) with ``params``."""
        ...

    def __getattr__(self, name: str) -> Any:
        """A boto3 method (``create_key``) or attribute (``exceptions``, ``meta``)."""
        ...


class SimulationSurface(Protocol):
    """What services, clients and the Fargate agent use of the simulation they run in.

    ``simulator.world.Simulation`` is the one implementation (mypy checks that it fits);
    lower modules annotate against this so that they need not import the world.
    """

    account_id: str
    region: str
    partition: str
    clock: SimClock
    rng: random.Random
    rate_limiter: RateLimiter
    strict_shapes: bool
    grant_propagation_seconds: float
    #: Client tokens (idempotent retries) every client of the simulation shares.
    client_tokens: TokenCache

    def service(self, name: str) -> Service:
        """The instance of service ``name``, created on first use."""
        ...

    def client(
        self,
        service_name: str,
        principal: str | None = None,
        *,
        via_service: str | None = None,
        on_behalf_of: str | None = None,
        source_arn: str | None = None,
        **_ignored: Any,
    ) -> ServiceClient:
        """A boto3-shaped client of ``service_name`` calling as ``principal``."""
        ...

    def principal(self, text: str | None = None, *, on_behalf_of: str | None = None) -> Principal:
        """Resolve a caller (an ARN, account id or service principal)."""
        ...

    def record(
        self,
        ctx: CallContext,
        op_model: OperationModel,
        params: dict[str, Any],
        response: dict[str, Any] | None,
        error: ClientError | RecordedError | None,
    ) -> None:
        """Append the CloudTrail record of one call to the audit trail (of an error, AWS's
        code and message: ``RecordedError``)."""
        ...

    def record_service_event(
        self, source: str, name: str, account: str, resources: list[dict[str, str]],
        details: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
        *, when: datetime | None = None, after_call: bool = False,
    ) -> None:
        """Append the record of an event a service made on its own (AwsServiceEvent)."""
        ...


@dataclass(slots=True)
class CallContext:
    """One API call: who makes it, when, and what the audit record should add."""

    sim: SimulationSurface
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
    """Base class: a simulated AWS service bound to one simulation."""

    service_name: ClassVar[str] = ""
    event_source: ClassVar[str] = ""
    #: The error raised for violations of the model's server-side constraints.
    constraint_error: ClassVar[str] = "ValidationException"
    #: CloudTrail writes request parameter names with a lower-case first letter.
    cloudtrail_lower_names: ClassVar[bool] = True
    #: Request parameters the audit trail never shows (bearer credentials such as grant
    #: tokens), on top of the members the model marks sensitive.
    audit_omit: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, sim: SimulationSurface) -> None:
        self.sim = sim

    def restored(self) -> None:
        """The service was just loaded from a saved state: set up what a state saved by an
        earlier fargate-sim lacks (nothing by default)."""

    def call_succeeded(self, ctx: CallContext, event_bits: int) -> None:
        """A call to this service succeeded and its CloudTrail record was drawn, its eventID
        from ``event_bits`` (``simulator.client.uuid4_text``); nothing by default."""

    def check_request(self, ctx: CallContext, params: dict[str, Any]) -> None:
        """Checks every operation of the service makes of a validated request before its
        handler runs (none by default); raises the service's ClientError."""
