"""The simulated world: accounts, one Region, a simulated clock, the services, the audit trail."""

from __future__ import annotations

import importlib
import random
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from botocore.model import OperationModel

from simulator import errors
from simulator.audit import CHECK_DEFERRED, AuditTrail, RecordedError, checked_render
from simulator.client import Client, audit_record, uuid4_text
from simulator.clock import SimClock
from simulator.fargate.agent import FargateAgent
from simulator.iam.principal import ACCOUNT_ID, Principal, resolve_principal
from simulator.idempotency import TokenCache
from simulator.quotas import RateLimiter
from simulator.service import CallContext, Service, SimulationSurface

if TYPE_CHECKING:  # the services themselves are imported on first use (SERVICES)
    from simulator.ecs.service import EcsService
    from simulator.iam.service import IamService
    from simulator.kms.service import KmsService

#: Where each service's implementation lives, imported on first use.
SERVICES: dict[str, str] = {
    "iam": "simulator.iam.service:IamService",
    "kms": "simulator.kms.service:KmsService",
    "ecs": "simulator.ecs.service:EcsService",
    "sts": "simulator.sts.service:StsService",
    "cloudtrail": "simulator.api.cloudtrail:CloudTrailService",
    "cloudformation": "simulator.cloudformation.service:CloudFormationService",
}


class Simulation:
    """One AWS partition-Region as seen by a set of accounts.

    ``sim.client("kms", principal=ARN)`` gives a boto3-shaped client calling as ``ARN`` (an
    IAM role or user ARN, an account id or root ARN, or a service principal such as
    ``fargate.amazonaws.com``; default: the account's root). ``quotas=False`` switches the
    request-rate quotas off for pure functional use; ``strict_shapes=True`` checks every
    response against botocore's output shape (the test suite turns it on).
    ``grant_propagation_seconds`` models KMS's eventual consistency for grants: a new grant
    allows nothing without its grant token for that many simulated seconds (default 0: at once).
    """

    def __init__(
        self,
        account_id: str = "111122223333",
        region: str = "us-west-2",
        *,
        start_time: datetime | None = None,
        seed: int = 0,
        quotas: bool = True,
        strict_shapes: bool = False,
        partition: str = "aws",
        grant_propagation_seconds: float = 0.0,
    ) -> None:
        if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
            raise ValueError(f"account_id must be 12 digits, got {account_id!r}")
        if not isinstance(region, str) or not region:
            raise ValueError(f"region must be a Region name such as us-west-2, got {region!r}")
        self.account_id = account_id
        self.region = region
        self.partition = partition
        if (isinstance(grant_propagation_seconds, bool)
                or not isinstance(grant_propagation_seconds, int | float)
                or grant_propagation_seconds < 0):
            raise ValueError(
                "grant_propagation_seconds must be a number of seconds >= 0, got "
                f"{grant_propagation_seconds!r}"
            )
        self.grant_propagation_seconds = float(grant_propagation_seconds)
        self.clock = SimClock(start_time)
        self.rng = random.Random(seed)
        self.rate_limiter = RateLimiter(self.clock, enabled=quotas)
        self.strict_shapes = strict_shapes
        self._audit_trail = AuditTrail()
        self.accounts: set[str] = {account_id}
        self._services: dict[str, Service] = {}
        #: Client tokens (idempotent retries) every client of this simulation shares.
        self.client_tokens = TokenCache()
        self._fargate: FargateAgent | None = None

    # -- services and clients -------------------------------------------------------------
    def service(self, name: str) -> Service:
        """The instance of service ``name`` in this simulation, created on first use."""
        svc = self._services.get(name)
        if svc is None:
            target = SERVICES.get(name)
            if target is None:
                known = ", ".join(sorted(SERVICES))
                raise ValueError(f"unknown service {name!r}: the simulator has {known}")
            module, _, cls_name = target.partition(":")
            cls = getattr(importlib.import_module(module), cls_name)
            svc = self._services[name] = cls(self, **self._collaborators(name))
        return svc

    def _collaborators(self, name: str) -> dict[str, Any]:
        """What service ``name`` is handed besides the simulation: ECS's task lifecycle gets
        the Fargate agent as its task provisioner (``simulator.ecs.provisioner``)."""
        return {"provisioner": self.fargate} if name == "ecs" else {}

    def client(
        self,
        service_name: str,
        principal: str | None = None,
        *,
        via_service: str | None = None,
        on_behalf_of: str | None = None,
        source_arn: str | None = None,
        **_ignored: Any,
    ) -> Client:
        """A boto3-shaped client of ``service_name`` calling as ``principal``.

        ``on_behalf_of`` is the account a service principal acts for (default: this
        simulation's account); ``via_service`` sets ``kms:ViaService`` for calls an AWS
        service makes for a caller; ``source_arn`` is the resource a service principal calls
        on behalf of (``aws:SourceArn``, a KMS grant's SourceArn constraint). boto3 keyword
        arguments such as ``region_name`` are accepted and ignored.
        """
        caller = self.principal(principal, on_behalf_of=on_behalf_of)
        return Client(self, self.service(service_name), caller, via_service=via_service,
                      source_arn=source_arn)

    def principal(self, text: str | None = None, *, on_behalf_of: str | None = None) -> Principal:
        """Resolve a caller, with its tags from IAM when it is a known role or user."""
        try:
            p = resolve_principal(text, on_behalf_of or self.account_id)
        except ValueError as exc:
            raise errors.ValidationException(str(exc)) from None
        self.accounts.add(p.account)
        return p

    @property
    def iam(self) -> IamService:
        """AWS Identity and Access Management in this simulation."""
        return cast("IamService", self.service("iam"))

    @property
    def kms(self) -> KmsService:
        """AWS Key Management Service in this simulation."""
        return cast("KmsService", self.service("kms"))

    @property
    def ecs(self) -> EcsService:
        """Amazon ECS in this simulation."""
        return cast("EcsService", self.service("ecs"))

    @property
    def fargate(self) -> FargateAgent:
        """The Fargate agent: task storage provisioning, volumes and ``df`` of running tasks."""
        if self._fargate is None:
            self._fargate = FargateAgent(self)
        return self._fargate

    @fargate.setter
    def fargate(self, agent: FargateAgent) -> None:
        """Use another agent (a subclass, e.g. one that retries); only before ECS is made, as
        ECS is handed the agent then."""
        if "ecs" in self._services:
            raise ValueError("the Fargate agent is replaced before ECS is first used")
        self._fargate = agent

    # -- audit ----------------------------------------------------------------------------
    @property
    def audit_trail(self) -> AuditTrail:
        """Every call's CloudTrail record, oldest first (deferred records rendered now)."""
        return self._audit_trail.rendered()

    @audit_trail.setter
    def audit_trail(self, trail: list[dict[str, Any]]) -> None:
        self._audit_trail = trail if isinstance(trail, AuditTrail) else AuditTrail(trail)

    def drain_audit_outcomes(self) -> list[tuple[str, str, str | None]]:
        """(eventSource, eventName, errorCode or None) of every record so far, oldest first,
        and the trail emptied, without rendering the deferred records: what a per-second
        tally of calls needs (the records' other fields are never made)."""
        trail = self._audit_trail
        outcomes = trail.outcomes()
        trail.clear()
        return outcomes

    def record(
        self,
        ctx: CallContext,
        op_model: OperationModel,
        params: dict[str, Any],
        response: dict[str, Any] | None,
        error: errors.ClientError | RecordedError | None,
    ) -> None:
        """Append the CloudTrail record of one call to the audit trail.

        The record is rendered when the trail is next read (``AuditTrail.defer``); its
        eventID is drawn now, so the seeded generator's sequence is the same either way.
        """
        svc = self._services[ctx.service]
        event_bits = self.rng.getrandbits(128)
        if error is None:
            svc.call_succeeded(ctx, event_bits)
        params = dict(params)  # the caller's dict may be reused; its top level is ours now
        if response is not None and "responseElements" in ctx.audit:
            # The service set the record's responseElements itself (KMS's cryptographic and
            # read-only operations: null), so the response is never rendered: not kept, it
            # holds no plaintext key and no objects for the collector to walk.
            response = None
        source = svc.event_source
        outcome = (source, ctx.operation, error.code if error is not None else None)
        if CHECK_DEFERRED:
            self._audit_trail.defer(checked_render(
                audit_record, ctx, op_model, params, response, error, source,
                svc.cloudtrail_lower_names, svc.audit_omit, event_bits), outcome=outcome)
        else:  # the arguments spelt out: no tuple made only to be unpacked again
            self._audit_trail.defer(audit_record, ctx, op_model, params, response, error,
                                    source, svc.cloudtrail_lower_names, svc.audit_omit,
                                    event_bits, outcome=outcome)
        for rec in self.__dict__.pop("_following", ()):
            self._audit_trail.defer(dict, rec, outcome=(rec["eventSource"], rec["eventName"],
                                                        None))

    def record_service_event(
        self, source: str, name: str, account: str, resources: list[dict[str, str]],
        details: dict[str, Any] | None = None, response: dict[str, Any] | None = None,
        *, when: datetime | None = None, after_call: bool = False,
    ) -> None:
        """Append the CloudTrail record of an event a service made on its own, at ``when``
        (default: the simulated now), as ``eventType`` AwsServiceEvent, ``invokedBy`` "AWS
        Internal": KMS deleting a key when its waiting period ends, rotating it, or expired
        imported key material. ``after_call``: the event follows the call being handled
        (a rotation an EnableKey sets off), so its record comes after the call's.
        https://docs.aws.amazon.com/awscloudtrail/latest/userguide/non-api-aws-service-events.html
        """
        rec: dict[str, Any] = {
            "eventVersion": "1.08",
            "userIdentity": {"accountId": account, "invokedBy": "AWS Internal"},
            "eventTime": (when or self.clock.now()).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source, "eventName": name, "awsRegion": self.region,
            "sourceIPAddress": "AWS Internal", "userAgent": "AWS Internal",
            "requestParameters": None, "responseElements": response,
            "eventID": uuid4_text(self.rng.getrandbits(128)), "readOnly": False,
            "resources": resources, "eventType": "AwsServiceEvent", "managementEvent": True,
            "recipientAccountId": account, "eventCategory": "Management",
        }
        if details is not None:
            rec["serviceEventDetails"] = details
        if after_call:  # kept only until the call's record is made (never saved with state)
            self.__dict__.setdefault("_following", []).append(rec)
        else:
            self._audit_trail.defer(dict, rec, outcome=(source, name, None))

    def __repr__(self) -> str:
        return (
            f"Simulation(account_id={self.account_id!r}, region={self.region!r}, "
            f"now={self.clock.now().isoformat()})"
        )


if TYPE_CHECKING:  # mypy: the world has the surface that the layers below it are typed against
    _SURFACE: type[SimulationSurface] = Simulation
