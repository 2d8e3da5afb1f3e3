"""boto3-shaped clients generated from botocore's service models.

``sim.client("kms", principal=ARN)`` returns a ``Client`` whose methods carry boto3's names
(``create_key``, ``run_task``) and keyword parameters. Every call goes through one front
door: parameter validation from the model, the service's operation, the audit record.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore import xform_name
from botocore.model import OperationModel

from simulator import drift, errors, idempotency
from simulator.audit import (
    RecordedError,
    cloudtrail_conventions,
    records_response,
    user_identity,
)
from simulator.iam.principal import Principal
from simulator.models import (
    JsonReading,
    clean_check,
    constraint_errors,
    encode_blobs,
    json_type_error,
    param_errors,
    service_model,
    shape_mismatches,
    to_cloudtrail,
)
from simulator.service import CallContext, Service

if TYPE_CHECKING:
    from simulator.service import SimulationSurface


class ShapeMismatchError(AssertionError):
    """A response that does not match the botocore output shape (a simulator bug)."""


class _Exceptions(SimpleNamespace):
    """``client.exceptions.NotFoundException`` and friends, as botocore offers them.

    Names are the model's error shape names; the class is the one for the shape's error code
    (IAM's ``NoSuchEntityException`` is the code ``NoSuchEntity``).
    """

    ClientError = errors.ClientError

    def __init__(self, service_name: str) -> None:
        super().__init__()
        codes = {}
        for shape in service_model(service_name).error_shapes:
            codes[shape.name] = shape.metadata.get("error", {}).get("code", shape.name)
        self._codes = codes

    def __getattr__(self, name: str) -> type[errors.ClientError]:
        if name.startswith("_"):
            raise AttributeError(name)
        return errors.error_class(self._codes.get(name, name))


class Client:
    """A caller's view of one service: boto3 method names, one principal."""

    def __init__(
        self,
        sim: SimulationSurface,
        service: Service,
        principal: Principal,
        *,
        via_service: str | None = None,
        source_ip: str | None = None,
        user_agent: str | None = None,
        source_arn: str | None = None,
    ) -> None:
        self._sim = sim
        self._service = service
        self._principal = principal
        self._via_service = via_service
        self._source_ip = source_ip
        self._user_agent = user_agent
        self._source_arn = source_arn
        self._derive(sim.region)

    def _derive(self, region: str) -> None:
        """What follows from the client's identity and service (also after a restart, when
        saved state sets only the identity: simulator/api/store.py)."""
        self._model = service_model(self._service.service_name)
        self._ops: dict[str, _Plan] = {}  # the model's operations, looked up once
        caller_service = self._service_caller()
        self._call_source_ip = self._source_ip or caller_service or "192.0.2.10"
        self._call_user_agent = self._user_agent or caller_service or "fargate-sim/boto3"
        self.exceptions = _exceptions(self._service.service_name)
        self.meta = SimpleNamespace(
            service_model=self._model, region_name=region, principal=self._principal
        )

    @property
    def principal(self) -> Principal:
        """Who this client calls as."""
        return self._principal

    def act_as(self, principal: Principal) -> None:
        """Make this client's later calls as ``principal`` (CloudFormation deleting a stack's
        resources as the service role DeleteStack names)."""
        self._principal = principal
        self._derive(self.meta.region_name)

    def _service_caller(self) -> str | None:
        """For an AWS service caller, the service CloudTrail names as the source."""
        p = self._principal
        return (p.invoked_by or p.service) if p.is_service else None

    def __getattr__(self, name: str) -> Any:
        op = _operation_names(self._service.service_name).get(name)
        if op is None:
            raise AttributeError(f"'{self._service.service_name}' client has no method {name!r}")

        def method(**params: Any) -> dict[str, Any]:
            return self.call(op, params)

        method.__name__ = name
        method.__doc__ = f"{self._service.service_name}.{op} as the simulator implements it."
        self.__dict__[name] = method  # made once per client: the next lookup finds it
        return method

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(_operation_names(self._service.service_name)))

    def can_paginate(self, name: str) -> bool:  # pragma: no cover - boto3 compatibility
        return False

    def _plan(self, operation: str) -> _Plan:
        """What a call of ``operation`` needs that does not change between calls (once)."""
        plan = self._ops.get(operation)
        if plan is None:
            op_model = self._model.operation_model(operation)
            name = self._service.service_name
            plan = self._ops[operation] = _Plan(
                op_model, clean_check(op_model), (name, operation) in idempotency.RULES)
        return plan

    def call(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Run ``operation`` (botocore name, e.g. ``CreateKey``) with ``params``: the response
        as boto3 returns it, with its ``ResponseMetadata``."""
        response, request_id = self.invoke(operation, params)
        out = dict(response)
        out["ResponseMetadata"] = {
            "RequestId": request_id,
            "HTTPStatusCode": 200,
            "HTTPHeaders": {"x-amzn-requestid": request_id},
            "RetryAttempts": 0,
        }
        return out

    def invoke(self, operation: str, params: dict[str, Any], *, from_json: bool = False,
               ignored: list[str] | None = None) -> tuple[dict[str, Any], str]:
        """``call`` without the SDK's ``ResponseMetadata``: the service's response (the
        caller's to keep, never changed afterwards) and the request id (the endpoint puts
        it in a header; the wire has no ResponseMetadata). ``from_json``: ``params`` came
        as a JSON body, which AWS's front end reads before anything else (``JsonReading``):
        value types checked, members the model does not have skipped and listed in
        ``ignored`` when it is given, ``null`` members absent."""
        sim, service = self._sim, self._service
        plan = self._ops.get(operation) or self._plan(operation)
        op_model = plan.model
        ctx = CallContext(
            sim, self._principal, service.service_name, operation,
            uuid4_text(sim.rng.getrandbits(128)), sim.clock.now(), sim.region,
            self._via_service, self._call_source_ip, self._call_user_agent, self._source_arn,
        )
        response: dict[str, Any] | None = None
        try:
            clean = plan.clean
            if clean is None or not clean(params):
                if from_json:
                    _refuse_json_types(op_model, params)
                    reading = JsonReading()
                    params = reading.request(op_model.input_shape, params)
                    if ignored is not None:
                        ignored.extend(reading.ignored)
                    if reading.nulls:
                        raise _constraint_error(service, reading.nulls)
                problem = param_errors(op_model, params)
                if problem:
                    raise errors.ValidationException(problem.replace("\n", " "))
                if not from_json:  # what botocore sends but AWS refuses: True as a number
                    _refuse_json_types(op_model, params)
                params = encode_blobs(op_model, params)
                violations = constraint_errors(op_model, params)
                if violations:
                    raise _constraint_error(service, violations)
            # else: certainly valid (the compiled check of both passes above), and its blobs
            # are bytes already, so encode_blobs would change nothing.
            handler = getattr(service, operation, None)
            if handler is None:
                raise errors.error_class("UnknownOperationException")(
                    f"The simulator does not implement {service.service_name}:{operation}."
                )
            refused = drift.refusal(service.service_name, operation, params)
            if refused is not None:
                raise refused
            service.check_request(ctx, params)
            if plan.tokens:
                tokens = sim.client_tokens
                who = f"{ctx.account} {ctx.caller.session_arn or ctx.caller.arn}"  # never replayed
                response = tokens.replay(who, service.service_name, operation, params, ctx.now)
                if response is None:  # to another caller, so authorization is never skipped
                    response = handler(ctx, params) or {}
                    tokens.remember(who, service.service_name, operation, params, ctx.now,
                                    response)
            else:
                response = handler(ctx, params) or {}
        except errors.ClientError as exc:
            exc.operation = operation
            # The record keeps AWS's code and words, not the exception: its traceback would
            # keep every frame of the call (and their locals) alive until the trail is read.
            sim.record(ctx, op_model, params, None, RecordedError(exc.code, exc.message))
            raise
        if sim.strict_shapes:
            problems = shape_mismatches(op_model.output_shape, response)
            if problems:
                raise ShapeMismatchError(
                    f"{service.service_name}.{operation} returned a response that does not "
                    "match botocore's output shape: " + "; ".join(problems)
                )
        sim.record(ctx, op_model, params, response, None)
        return response, ctx.request_id


def _constraint_error(service: Any, violations: list[str]) -> errors.ClientError:
    """The service's error for requests that break the model's constraints, in AWS's words:
    "2 validation errors detected: Value ... ; Value ..."."""
    n = len(violations)
    word = "error" if n == 1 else "errors"
    return errors.error_class(service.constraint_error)(
        f"{n} validation {word} detected: " + "; ".join(violations))


def _refuse_json_types(operation: OperationModel, params: dict[str, Any]) -> None:
    """AWS's SerializationException for a value of a JSON type its member cannot take."""
    wrong = json_type_error(operation.input_shape, params)
    if wrong:
        raise errors.error_class("SerializationException")(wrong)


class _Plan(NamedTuple):
    """One operation as a client calls it: its model, its compiled validity check (None: the
    full check every time) and whether requests carry an idempotency token."""

    model: OperationModel
    clean: Any
    tokens: bool


_NAMES: dict[str, dict[str, str]] = {}
_EXCEPTIONS: dict[str, _Exceptions] = {}


def _exceptions(service_name: str) -> _Exceptions:
    if service_name not in _EXCEPTIONS:
        _EXCEPTIONS[service_name] = _Exceptions(service_name)
    return _EXCEPTIONS[service_name]


def _operation_names(service_name: str) -> dict[str, str]:
    names = _NAMES.get(service_name)
    if names is None:
        model = service_model(service_name)
        names = {xform_name(op): op for op in model.operation_names}
        _NAMES[service_name] = names
    return names


_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def uuid4_text(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))``, formatted directly (two per call)."""
    h = ((bits & _UUID4_CLEAR) | _UUID4_SET).to_bytes(16, "big").hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@lru_cache(maxsize=256)
def _event_time(now: datetime) -> str:
    """CloudTrail's eventTime; many calls share one simulated instant, so it is cached."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def audit_record(
    ctx: CallContext,
    op_model: OperationModel,
    params: dict[str, Any],
    response: dict[str, Any] | None,
    error: errors.ClientError | RecordedError | None,
    event_source: str,
    lower: bool,
    omit: frozenset[str] = frozenset(),
    event_bits: int | None = None,
) -> dict[str, Any]:
    """The CloudTrail record of one call; secrets and blobs never enter it (positional
    arguments all, so ``Simulation.record`` can defer it as a function and its arguments).

    ``event_bits``: the 128 random bits of its eventID (drawn from the simulation's
    generator when not given).
    """
    caller = ctx.caller
    if omit and not omit.isdisjoint(params):
        params = {k: v for k, v in params.items() if k not in omit}
    rec: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": user_identity(caller),
        "eventTime": _event_time(ctx.now),
        "eventSource": event_source,
        "eventName": ctx.operation,
        "awsRegion": ctx.region,
        "sourceIPAddress": ctx.source_ip,
        "userAgent": ctx.user_agent,
        "requestParameters": to_cloudtrail(op_model.input_shape, params, lower) or None,
        "responseElements": None,
        "requestID": ctx.request_id,
        "eventID": uuid4_text(ctx.sim.rng.getrandbits(128) if event_bits is None else event_bits),
        "readOnly": False,  # set by cloudtrail_conventions
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ctx.account,
        "eventCategory": "Management",
    }
    if error is not None:
        rec["errorCode"] = error.code
        rec["errorMessage"] = error.message
    elif response is not None and records_response(event_source, ctx.operation):
        rec["responseElements"] = to_cloudtrail(op_model.output_shape, response, lower) or None
    if ctx.audit_params:
        rec["requestParameters"] = {**(rec["requestParameters"] or {}), **ctx.audit_params}
    rec.update(ctx.audit)
    return cloudtrail_conventions(rec)
