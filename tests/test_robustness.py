"""Every operation answers bad or odd input with an AWS error, never a Python exception.

For each operation of IAM, KMS and ECS, requests are generated from botocore's input shape
(required members always, others at random, so members a newer botocore adds are included;
odd values: empty strings, huge numbers, empty blobs, alias, ARN and service principal
look-alikes), as the root or as a service principal calling on behalf of a resource. The
only acceptable failure is a ClientError, and every success must match the output shape
(strict_shapes).
"""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.model import Shape

from simulator import Simulation, errors
from simulator.models import service_model

STRINGS = ["", "x", "arn:aws:kms:us-west-2:111122223333:key/abc", "alias/x", "1234",
           "clusterName", "a" * 300, "fargate.us-west-2.amazonaws.com",
           "arn:aws:ecs:us-west-2:111122223333:task/c/0123456789abcdef"]
#: Callers: the account root, and a service principal acting for a resource (source ARN).
CALLERS = [{}, {"principal": "fargate.us-west-2.amazonaws.com",
                "source_arn": "arn:aws:ecs:us-west-2:111122223333:task/c/0123456789abcdef"}]


def _value(shape: Shape, rng: random.Random, depth: int = 0) -> Any:
    t = shape.type_name
    if t == "string":
        if shape.enum and rng.random() < 0.7:
            return rng.choice(shape.enum)
        return rng.choice(STRINGS)
    if t in ("integer", "long"):
        return rng.choice([0, 1, 5, -1, 10**6])
    if t == "boolean":
        return rng.random() < 0.5
    if t == "blob":
        return rng.choice([b"", b"x" * 10, b"\x01" * 100])
    if t == "timestamp":
        return datetime(2025, 1, 1, tzinfo=UTC)
    if t == "list":
        return [_value(shape.member, rng, depth + 1) for _ in range(rng.randint(0, 2))] \
            if depth < 3 else []
    if t == "map":
        return {"k": _value(shape.value, rng, depth + 1)} if depth < 3 else {}
    if t == "structure":
        if depth > 3:
            return {}
        return {name: _value(member, rng, depth + 1) for name, member in shape.members.items()
                if name in shape.required_members or rng.random() < 0.4}
    return None


@pytest.mark.parametrize("service", ["iam", "kms", "ecs", "sts", "cloudtrail", "cloudformation"])
def test_no_operation_leaks_a_python_exception(service):
    rng = random.Random(20261129)
    model = service_model(service)
    for operation in model.operation_names:
        shape = model.operation_model(operation).input_shape
        for _ in range(10):
            sim = Simulation(quotas=False, strict_shapes=True)
            params = _value(shape, rng) if shape is not None else {}
            with contextlib.suppress(errors.ClientError):
                sim.client(service, **rng.choice(CALLERS)).call(operation, params)
