"""Assert that a response matches botocore's output shape for its operation."""

from __future__ import annotations

from typing import Any

from simulator.models import service_model, shape_mismatches


def assert_matches_shape(service: str, operation: str, response: dict[str, Any]) -> None:
    """Fail with every mismatch when ``response`` departs from the operation's output shape."""
    shape = service_model(service).operation_model(operation).output_shape
    problems = shape_mismatches(shape, response)
    assert not problems, f"{service}.{operation}: " + "; ".join(problems)
