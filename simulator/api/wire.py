"""The AWS JSON protocol's encoding of values, driven by botocore's shapes.

On the wire, blobs are base64 strings and timestamps epoch seconds; in the simulator they
are ``bytes`` and ``datetime``, as boto3 hands them out.
"""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

from botocore.model import Shape


class WireError(ValueError):
    """A request body that does not decode against its shape."""


def decode(shape: Shape | None, value: Any, path: str = "") -> Any:
    """Wire JSON -> Python values (bytes, datetime) following ``shape``."""
    if shape is None or value is None:
        return value
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        return {
            k: decode(shape.members[k], v, f"{path}.{k}" if path else k) if k in shape.members
            else v
            for k, v in value.items()
        }
    if t == "list" and isinstance(value, list):
        return [decode(shape.member, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if t == "map" and isinstance(value, dict):
        return {k: decode(shape.value, v, f"{path}.{k}") for k, v in value.items()}
    if t == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise WireError(f"{path}: not valid base64") from None
    if t == "timestamp" and isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return value


def encode(shape: Shape | None, value: Any) -> Any:
    """Python values -> wire JSON following ``shape``."""
    if shape is None or value is None:
        return value
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        return {k: encode(shape.members.get(k), v) for k, v in value.items()
                if k != "ResponseMetadata"}
    if t == "list" and isinstance(value, list):
        return [encode(shape.member, v) for v in value]
    if t == "map" and isinstance(value, dict):
        return {k: encode(shape.value, v) for k, v in value.items()}
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        return value.timestamp()
    return value
