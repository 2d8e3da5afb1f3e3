"""Which service and operation a request is for, and how its errors are shaped.

JSON services are named by ``X-Amz-Target`` (its prefix is the model's ``targetPrefix``);
query services (IAM, STS) by the ``Action`` parameter and the service in the signature's
credential scope. HTTP status codes of errors come from botocore's error shapes
(``error.httpStatusCode``), the simulator's own status otherwise.
"""

from __future__ import annotations

from functools import cache, lru_cache

from botocore.model import OperationModel, ServiceModel

from simulator.models import service_model

JSON_SERVICES = ("kms", "ecs", "cloudtrail")
QUERY_SERVICES = ("iam", "sts", "cloudformation")

#: X-Amz-Target prefix -> simulator service name.
TARGETS = {service_model(name).metadata["targetPrefix"]: name for name in JSON_SERVICES}


@cache
def model(service: str) -> ServiceModel:
    return service_model(service)


@lru_cache(maxsize=512)
def json_operation(target: str) -> tuple[str, OperationModel] | None:
    """The service and operation an ``X-Amz-Target`` names (None if none): looked up once
    per target (the cache is bounded, as targets come from clients)."""
    prefix, _, operation = target.rpartition(".")
    service = TARGETS.get(prefix)
    if service is None or operation not in model(service).operation_names:
        return None
    return service, model(service).operation_model(operation)


@cache
def _statuses(service: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for shape in model(service).error_shapes:
        meta = shape.metadata.get("error", {})
        code = meta.get("code", shape.name)
        if "httpStatusCode" in meta:
            out[code] = int(meta["httpStatusCode"])
    return out


def error_status(service: str | None, code: str, default: int) -> int:
    """The HTTP status AWS answers error ``code`` of ``service`` with."""
    if service is None:
        return default
    return _statuses(service).get(code, default)


@cache
def query_service_for(action: str) -> str | None:
    """The query service with an operation named ``action``."""
    for name in ("sts", "cloudformation", "iam"):
        if action in model(name).operation_names:
            return name
    return None
