"""The endpoint: one simulation behind AWS's wire protocols, with identity, time and state.

``Endpoint.handle`` takes a request already read off the socket (method, path, query,
headers with lower-case names, body) and returns (status, headers, body). It routes to the
admin API, a JSON service (KMS, ECS, CloudTrail) or a query service (IAM, STS), verifies the
caller's signature, brings the clock up to wall time, calls the service through the same
front door as ``sim.client`` (validation, authorisation, audit), and saves state after
mutating calls. All simulation work runs under one lock, in arrival order.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from simulator import errors
from simulator.api import protocols, query, sigv4
from simulator.api.identity import Authenticator, AuthError
from simulator.api.store import StateStore
from simulator.api.wallclock import WallClock
from simulator.api.wire import WireError, decode, loads, to_json
from simulator.audit import AuditTrail
from simulator.client import Client
from simulator.models import service_model

ADMIN_PREFIX = "/_fargate-sim/"
MAX_JSON_DEPTH = 64
READ_ONLY_SNAPSHOT_SECONDS = 5.0
#: Front-door clients kept for repeat callers (cleared when full).
MAX_CLIENTS = 1024

#: Operations that leave a service's state as it was (the snapshot is deferred to the
#: ticker for them, so DescribeKey stays fast); every other operation is saved at once.
READ_ONLY_PREFIXES = ("Describe", "List", "Get", "Lookup", "Simulate")
READ_ONLY_OPERATIONS = frozenset({
    "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyPair",
    "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPairWithoutPlaintext",
    "GenerateRandom", "GenerateMac", "VerifyMac", "Sign", "Verify", "DeriveSharedSecret",
})

Response = tuple[int, dict[str, str], bytes]


@functools.cache
def _signing_name(service: str) -> str:
    """The name a request to ``service`` is signed for (the model's signingName)."""
    return str(service_model(service).signing_name or service)


@dataclass(frozen=True)
class AuditRetention:
    """How much of the audit trail the server keeps (in memory, in the state file, for
    LookupEvents and the admin API): at most ``events`` records (0: no count limit) and
    none older than ``days`` of simulated time (0: no age limit). CloudTrail's event
    history keeps 90 days (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/
    view-cloudtrail-events.html); the count bounds the server's memory."""

    events: int = 20_000
    days: float = 90.0

    def __post_init__(self) -> None:
        if self.events < 0 or self.days < 0 or not math.isfinite(self.days):
            raise ValueError(f"audit retention must be >= 0 events and days, got "
                             f"{self.events} events, {self.days} days")

    @property
    def slack(self) -> int:
        """Records allowed past ``events`` before pruning (pruning is done in batches)."""
        return max(100, self.events // 20)


def read_only(operation: str) -> bool:
    return operation.startswith(READ_ONLY_PREFIXES) or operation in READ_ONLY_OPERATIONS


def _depth(value: Any, limit: int) -> bool:
    """True when ``value`` nests deeper than ``limit`` (iteratively: no recursion limit)."""
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > limit:
            return True
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return False


class Endpoint:
    """A simulation served over HTTP (see the module docstring)."""

    def __init__(self, sim: Any, *, auth: Authenticator | None = None,
                 principals: dict[str, str] | None = None, store: StateStore | None = None,
                 speed: float = 1.0, make_sim: Any = None,
                 retention: AuditRetention | None = None) -> None:
        self.sim = sim
        self.auth = auth
        self.principals = dict(principals or {})
        self.store = store
        self.clock = WallClock(sim.clock, speed)
        self.lock = threading.RLock()
        self.dirty = False
        self.requests = 0
        self._make_sim = make_sim
        self._clients: dict[tuple[str | None, ...], Client] = {}
        self.retention = retention or AuditRetention()
        #: The absolute index of the oldest audit record kept (older ones were pruned).
        self.audit_base = store.audit_base if store is not None else 0
        self._snapshot_at = 0.0

    # -- state ------------------------------------------------------------------------------
    def save(self) -> None:
        """Persist the snapshot and the new audit records now (under the lock)."""
        if self.store is not None:
            self.store.save(self.sim)
        self.dirty = False
        self._snapshot_at = time.monotonic()

    def tick(self) -> None:
        """The background ticker's step: fire due events, save what changed.

        Events that fired are saved at once; read-only calls append their audit records at
        once but refresh the snapshot (request-id generator, rate-limit buckets) at most every
        ``READ_ONLY_SNAPSHOT_SECONDS``, so a stream of DescribeKey calls is not stalled by it.
        """
        with self.lock:
            fired = self.clock.sync()
            now = time.monotonic()
            if fired or (self.dirty and now - self._snapshot_at >= READ_ONLY_SNAPSHOT_SECONDS):
                self.save()
            elif self.dirty and self.store is not None:
                self.store.save(self.sim, snapshot=False)
            self.retain()

    def retain(self) -> int:
        """Drop the audit records the retention no longer keeps (under the lock; after a
        save, so kept records reached the state file first); how many went."""
        trail: AuditTrail = self.sim._audit_trail  # counted and cut without rendering
        r = self.retention
        drop = 0
        if r.events and trail.size() > r.events + r.slack:
            drop = trail.size() - r.events
        if r.days:
            cutoff = self.sim.clock.now() - timedelta(days=r.days)
            drop = max(drop, trail.count_before(f"{cutoff:%Y-%m-%dT%H:%M:%SZ}"))
        if drop:
            if self.store is not None:
                self.store.prune(drop)
            trail.drop_oldest(drop)
            self.audit_base += drop
        return drop

    def reset(self) -> None:
        """A fresh simulation with the same settings (the admin API's reset)."""
        with self.lock:
            if self._make_sim is None:
                raise ValueError("this endpoint was not given a way to make a new simulation")
            self.sim = self._make_sim()
            self._clients.clear()
            self.audit_base = 0
            self.clock.attach(self.sim.clock)
            if self.store is not None:
                self.store.clear()
                self.save()

    # -- requests ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, query_string: str, headers: dict[str, str],
               body: bytes, client_ip: str = "127.0.0.1") -> Response:
        self.requests += 1
        try:
            if path.startswith(ADMIN_PREFIX):
                from simulator.api import admin

                return admin.handle(self, method, path[len(ADMIN_PREFIX):], query_string, body)
            target = headers.get("x-amz-target")
            if target is not None:
                return self._json(method, path, query_string, headers, body, target, client_ip)
            return self._query(method, path, query_string, headers, body, client_ip)
        except Exception:  # a simulator bug: an AWS-shaped 500, never a traceback to the client
            traceback.print_exc(file=sys.stderr)
            return json_error(500, "InternalFailure",
                              "The request processing has failed because of an unknown "
                              "error, exception or failure.")

    def _caller(self, method: str, path: str, query_string: str, headers: dict[str, str],
                body: bytes, service: str) -> tuple[str | None, str | None]:
        """The principal a request calls as and the access key that signed it
        (``AuthError`` when it may not call at all)."""
        try:
            signed = sigv4.parse(headers, query_string)
        except sigv4.SignatureFormatError as exc:
            if self.auth is not None:
                raise AuthError("malformed", str(exc)) from None
            signed = None
        if signed is not None and signed.service != _signing_name(service):
            # AWS's words, trailing space included (aws/aws-sdk-ruby#431, smithy4s#1568)
            raise AuthError("bad-signature", "Credential should be scoped to correct service: "
                            f"'{_signing_name(service)}'. ",
                            why=f"the request was routed to {service} but signed for the "
                                f"service {signed.service!r}")
        # IAM is global: its requests are signed for us-east-1 whatever the Region.
        if signed is not None and service != "iam" and signed.region != self.sim.region:
            raise AuthError("bad-signature", "Credential should be scoped to a valid region.",
                            why=f"this endpoint simulates {self.sim.region}; the request was "
                                f"signed for {signed.region}; use --region {self.sim.region}")
        akid = signed.access_key_id if signed is not None else None
        if self.auth is None:
            return (self.principals.get(akid) if akid else None), akid
        return self.auth.caller(self.sim, method, path, query_string, headers, body, signed,
                                query_protocol=service in protocols.QUERY_SERVICES,
                                service=service), akid

    def _client(self, service: str, caller: str | None, akid: str | None, client_ip: str,
                user_agent: str) -> Client:
        """The front-door client of one caller, signing key, address and user agent: made
        once and kept (a Principal depends only on its ARN; a reset clears the cache)."""
        key = (service, caller, akid, client_ip, user_agent)
        client = self._clients.get(key)
        if client is None:
            sim = self.sim
            principal = sim.principal(caller)
            if akid is not None:
                # CloudTrail names the access key that signed the call in userIdentity; an
                # assumed-role session brings its session tags and session policies.
                principal = dataclasses.replace(principal, access_key_id=akid)
                principal = sim.service("sts").session_principal(akid, principal)
            client = Client(sim, sim.service(service), principal, source_ip=client_ip,
                            user_agent=user_agent)
            if len(self._clients) >= MAX_CLIENTS:
                self._clients.clear()
            self._clients[key] = client
        return client

    def _call(self, service: str, operation: str, params: dict[str, Any],
              caller: tuple[str | None, str | None], headers: dict[str, str], client_ip: str,
              from_json: bool = False, ignored: list[str] | None = None
              ) -> tuple[dict[str, Any], str]:
        """The call through the front door, under the lock: (response, request id)."""
        with self.lock:
            if self.clock.sync():
                self.dirty = True
            client = self._client(service, caller[0], caller[1], client_ip,
                                  headers.get("user-agent") or "fargate-sim")
            try:
                return client.invoke(operation, params, from_json=from_json, ignored=ignored)
            finally:
                if read_only(operation):
                    self.dirty = True
                else:
                    self.save()

    # -- JSON protocol ----------------------------------------------------------------------
    def _json(self, method: str, path: str, query_string: str, headers: dict[str, str],
              body: bytes, target: str, client_ip: str) -> Response:
        found = protocols.json_operation(target)
        if found is None:
            return json_error(400, "UnknownOperationException", "")
        service, op = found
        operation = op.name
        try:  # who is calling first, as AWS's front door does, then what the body says
            caller = self._caller(method, path, query_string, headers, body, service)
        except AuthError as exc:
            return json_error(exc.status(False), exc.code(False), exc.message, exc.why)
        try:
            raw = loads(body or b"{}")
        except (ValueError, RecursionError):
            return json_error(400, "SerializationException",
                              "Start of structure or map found where not expected. "
                              "(fargate-sim: the body is not a UTF-8 JSON object)")
        if not isinstance(raw, dict):
            return json_error(400, "SerializationException",
                              "Start of structure or map found where not expected. "
                              f"(fargate-sim: the body is a JSON {type(raw).__name__}, "
                              "not an object)")
        # Only a body with more brackets than the limit can nest deeper than it.
        if body.count(b"{") + body.count(b"[") > MAX_JSON_DEPTH and _depth(raw, MAX_JSON_DEPTH):
            return json_error(400, "SerializationException",
                              f"(fargate-sim: the body nests deeper than {MAX_JSON_DEPTH})")
        try:
            params = decode(op.input_shape, raw) or {}
        except WireError as exc:
            return json_error(400, "SerializationException", str(exc))
        ignored: list[str] = []
        try:
            response, request_id = self._call(service, operation, params, caller, headers,
                                              client_ip, from_json=True, ignored=ignored)
        except errors.ClientError as exc:
            status = protocols.error_status(service, exc.code, exc.status)
            return json_error(status, exc.code, exc.message, exc.explanation or "")
        out = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": request_id}
        if ignored:  # AWS answers as if they were not there; say so beside its answer
            _explained(out, f"fargate-sim: ignored {', '.join(ignored)}: not members of "
                            f"{operation}'s input in botocore's model, and AWS's JSON "
                            "services skip members they do not know")
        return 200, out, to_json(op.output_shape, response)

    # -- query protocol ---------------------------------------------------------------------
    def _query(self, method: str, path: str, query_string: str, headers: dict[str, str],
               body: bytes, client_ip: str) -> Response:
        try:
            form = query.parse_form(query_string)
            if body:
                form.update(query.parse_form(body))
        except UnicodeDecodeError:
            return xml_error(None, 400, "MalformedQueryString",
                             "(fargate-sim: the form body is not UTF-8)")
        action = form.get("Action")
        if action is None:
            return json_error(400, "UnknownOperationException",
                              "(fargate-sim: the request names no operation: give X-Amz-Target "
                              "(JSON services) or Action (IAM, STS))")
        try:
            signed = sigv4.parse(headers, query_string)
        except sigv4.SignatureFormatError:
            signed = None
        scoped = signed.service if signed is not None else None
        service = scoped if scoped in protocols.QUERY_SERVICES else \
            protocols.query_service_for(action)
        if service is None or action not in protocols.model(service).operation_names:
            return xml_error(protocols.model(service or "iam"), 400, "InvalidAction",
                             f"Could not find operation {action} for version "
                             f"{form.get('Version', '')}")
        model = protocols.model(service)
        op = model.operation_model(action)
        try:
            caller = self._caller(method, path, query_string, headers, body, service)
        except AuthError as exc:
            return xml_error(model, exc.status(True), exc.code(True), exc.text(True),
                             exc.why)
        try:
            params = query.decode_params(op, form)
        except query.QueryError as exc:
            return xml_error(model, 400, "InvalidParameterValue", str(exc))
        try:
            response, request_id = self._call(service, action, params, caller, headers,
                                              client_ip)
        except errors.ClientError as exc:
            status = protocols.error_status(service, exc.code, exc.status)
            return xml_error(model, status, exc.code, exc.message, exc.explanation or "")
        return 200, {"Content-Type": "text/xml", "x-amzn-RequestId": request_id}, \
            query.response_xml(model, op, response, request_id)


def new_request_id() -> str:
    return str(uuid.uuid4())


#: The response header that carries the simulator's own explanation of a refusal, beside
#: AWS's code and message (which stay AWS's words); SDKs show it among the response headers
#: (boto3: ``error.response["ResponseMetadata"]["HTTPHeaders"]["x-fargate-sim-explanation"]``).
EXPLANATION_HEADER = "x-fargate-sim-explanation"


def _explained(headers: dict[str, str], explanation: str) -> dict[str, str]:
    if explanation:
        # one header line of Latin-1 text: other characters and line breaks replaced
        text = " ".join(explanation.split())
        headers[EXPLANATION_HEADER] = text.encode("iso-8859-1", "replace").decode("iso-8859-1")
    return headers


def json_error(status: int, code: str, message: str, explanation: str = "") -> Response:
    """An AWS JSON-protocol error response (our ``explanation`` in its own header)."""
    request_id = new_request_id()
    body: dict[str, str] = {"__type": code}
    if message:
        body["message"] = message
    return status, _explained({"Content-Type": "application/x-amz-json-1.1",
                               "x-amzn-RequestId": request_id, "x-amzn-ErrorType": code},
                              explanation), json.dumps(body).encode()


def xml_error(model: Any, status: int, code: str, message: str,
              explanation: str = "") -> Response:
    """An AWS query-protocol error response (``<ErrorResponse>`` with a RequestId; our
    ``explanation`` in its own header)."""
    request_id = new_request_id()
    return status, _explained({"Content-Type": "text/xml", "x-amzn-RequestId": request_id},
                              explanation), \
        query.error_xml(model, code, message, request_id, sender=status < 500)
