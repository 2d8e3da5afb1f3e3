"""Shared helpers for the IAM tests."""

from __future__ import annotations

import json
from typing import Any

from simulator.iam import PolicyDocument, RequestContext, resolve_principal
from simulator.models import service_model
from tests.shape_check import assert_matches_shape

ACCOUNT = "111122223333"
OTHER = "444455556666"
KEY_ARN = f"arn:aws:kms:us-west-2:{ACCOUNT}:key/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/Operator"
ABSENT = object()


def principal(text: str | None = None, account: str = ACCOUNT):
    return resolve_principal(text or ROLE_ARN, account)


def identity(*statements: dict[str, Any], version: str = "2012-10-17", name: str = "p"
             ) -> PolicyDocument:
    return PolicyDocument.parse({"Version": version, "Statement": list(statements)}, name=name)


def allow_with(condition: dict[str, Any], version: str = "2012-10-17") -> PolicyDocument:
    return identity(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*", "Condition": condition},
        version=version,
    )


def request(context: dict[str, Any] | None = None, *, action: str = "s3:GetObject",
            resource: str = "arn:aws:s3:::bucket/key", caller: str | None = None
            ) -> RequestContext:
    return RequestContext(principal(caller), action, resource, context or {})


def _encode_policies(shape, value):
    """Undo botocore's json_decode_policies: policyDocumentType members back to strings."""
    if shape is None or value is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict):
        out = {}
        for k, v in value.items():
            member = shape.members.get(k)
            if member is not None and member.name == "policyDocumentType" and isinstance(v, dict):
                out[k] = json.dumps(v)
            else:
                out[k] = _encode_policies(member, v)
        return out
    if shape.type_name == "list" and isinstance(value, list):
        return [_encode_policies(shape.member, v) for v in value]
    return value


def check_iam_shape(operation: str, response: dict[str, Any]) -> None:
    """assert_matches_shape for IAM, accepting policy documents decoded to dicts as boto3 does."""
    shape = service_model("iam").operation_model(operation).output_shape
    body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
    assert_matches_shape("iam", operation, _encode_policies(shape, body))

