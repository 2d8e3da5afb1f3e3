"""Assert that a response matches botocore's output shape for its operation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from botocore.model import Shape

from simulator.models import service_model, shape_mismatches


def assert_matches_shape(service: str, operation: str, response: dict[str, Any]) -> None:
    """Fail with every mismatch when ``response`` departs from the operation's output shape."""
    shape = service_model(service).operation_model(operation).output_shape
    problems = shape_mismatches(shape, response)
    assert not problems, f"{service}.{operation}: " + "; ".join(problems)


def missing_members(shape: Shape, value: Any, always: Mapping[str, tuple[str, ...]],
                    path: str = "") -> list[str]:
    """Members ``always`` names per shape (those AWS returns although the model marks them
    optional) that are absent from ``value``, anywhere inside it."""
    out: list[str] = []
    if shape.type_name == "structure" and isinstance(value, dict):
        for name in always.get(shape.name, ()):
            if name not in value:
                out.append(f"{path}.{name}: AWS always returns it")
        for name, v in value.items():
            if name in shape.members:
                out += missing_members(shape.members[name], v, always, f"{path}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            out += missing_members(shape.member, item, always, f"{path}[{i}]")
    return out


def assert_answers_as_aws(service: str, operation: str, response: dict[str, Any],
                          always: Mapping[str, tuple[str, ...]],
                          more: Callable[[Shape, dict[str, Any]], list[str]] | None = None
                          ) -> None:
    """Fail with every departure from the output shape, every member of ``always`` missing,
    and whatever ``more(shape, body)`` finds (a service's own rule, e.g. IAM's Marker)."""
    shape = service_model(service).operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    problems = shape_mismatches(shape, body)
    if shape is not None:
        problems += missing_members(shape, body, always)
        if more is not None:
            problems += more(shape, body)
    assert not problems, f"{operation}: " + "; ".join(problems)
