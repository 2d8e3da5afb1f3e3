"""The AWS JSON protocol's encoding of values, driven by botocore's shapes.

On the wire, blobs are base64 strings and timestamps epoch seconds; in the simulator they
are ``bytes`` and ``datetime``, as boto3 hands them out.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from botocore.model import Shape


class WireError(ValueError):
    """A request body that does not decode against its shape."""


def decode(shape: Shape | None, value: Any, path: str = "") -> Any:
    """Wire JSON -> Python values (bytes, datetime) following ``shape`` (parts whose shape
    holds no blob or timestamp are taken as they are)."""
    if shape is None or value is None or not _converted(shape):
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


@lru_cache(maxsize=4096)
def _converted(shape: Shape) -> bool:
    """Whether values of ``shape`` can hold a blob or a timestamp (anything JSON cannot
    carry as it is); recursive shapes are walked once."""
    seen: set[int] = set()
    stack = [shape]
    while stack:
        s = stack.pop()
        if id(s) in seen:
            continue
        seen.add(id(s))
        t = s.type_name
        if t in ("blob", "timestamp"):
            return True
        if t == "structure":
            stack.extend(s.members.values())  # type: ignore[attr-defined]
        elif t == "list":
            stack.append(s.member)  # type: ignore[attr-defined]
        elif t == "map":
            stack.append(s.value)  # type: ignore[attr-defined]
    return False


@lru_cache(maxsize=4096)
def _converted_members(shape: Shape) -> tuple[tuple[str, Shape], ...]:
    """The members of a structure whose values need converting."""
    return tuple((name, member) for name, member in shape.members.items()  # type: ignore[attr-defined]
                 if _converted(member))


def encode(shape: Shape | None, value: Any) -> Any:
    """Python values -> wire JSON following ``shape`` (a response's top-level
    ``ResponseMetadata`` dropped); parts whose shape holds no blob or timestamp are passed
    through as they are (``to_json`` still converts a stray one)."""
    if shape is None or value is None:
        return value
    if shape.type_name == "structure" and isinstance(value, dict) and \
            "ResponseMetadata" in value:
        value = {k: v for k, v in value.items() if k != "ResponseMetadata"}
    return _encode(shape, value)


def _encode(shape: Shape, value: Any) -> Any:
    if value is None or not _converted(shape):
        return value
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        out = dict(value)
        for name, member in _converted_members(shape):
            if name in out:
                out[name] = _encode(member, out[name])
        return out
    if t == "list" and isinstance(value, list):
        member = shape.member  # type: ignore[attr-defined]
        return [_encode(member, v) for v in value]
    if t == "map" and isinstance(value, dict):
        member = shape.value  # type: ignore[attr-defined]
        return {k: _encode(member, v) for k, v in value.items()}
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, datetime):
        # AWS's JSON services send epoch seconds to the millisecond (e.g. KMS's CreationDate
        # 1.478910903E9, ECS's createdAt 1.557134011116E9 in the API references' examples).
        return round(value.timestamp(), 3)
    return value


def _stray(value: Any) -> Any:
    """``json.dumps`` default: a blob or timestamp where the shape did not say so."""
    if isinstance(value, bytes | bytearray | datetime):
        return _scalar(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


#: Compact, as AWS writes its JSON responses; no cycle check (responses are trees of plain
#: values made per call), which with the separators saves about a quarter of the encoding.
_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))


def to_json(shape: Shape | None, value: Any) -> bytes:
    """A response body in the JSON protocol."""
    data = encode(shape, value) or {}
    try:
        return _ENCODER.encode(data).encode()
    except TypeError:
        return json.dumps(data, default=_stray, separators=(",", ":")).encode()
