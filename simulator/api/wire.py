"""The AWS JSON protocol's encoding of values.

On the wire, blobs are base64 strings and timestamps epoch seconds; in the simulator they
are ``bytes`` and ``datetime``, as boto3 hands them out. Requests are decoded following
botocore's input shapes (a base64 string is a blob only where the shape says so); in a
response every ``bytes`` and ``datetime`` value is a blob or a timestamp, so it is encoded
wherever it sits, by the JSON encoder's ``default``, without walking the output shape.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from functools import lru_cache
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
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


#: The standard library's C scanner behind ``json.loads``, called directly.
_SCAN = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads(body: bytes) -> Any:
    """The JSON value of a request body, exactly as ``json.loads(body)`` reads it (and
    raising what it raises), without its encoding detection and whitespace scans for the
    usual body: UTF-8 starting with ``{`` and ending with its value."""
    if body[:1] == b"{" and body[1:2] != b"\x00":  # json.detect_encoding would say UTF-8
        text = body.decode("utf-8", "surrogatepass")
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:  # pragma: no cover - "{" always starts a value
            pass
        else:
            if end == len(text):
                return value
    return json.loads(body)  # anything else: trailing whitespace, other encodings, errors


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
def _epoch_seconds(value: datetime) -> float:
    """AWS's JSON services send epoch seconds to the millisecond (e.g. KMS's CreationDate
    1.478910903E9, ECS's createdAt 1.557134011116E9 in the API references' examples).
    Cached: the same creation dates go out again and again, and ``round`` to 3 digits costs
    more than the rest of the conversion (equal datetimes are one instant: one answer)."""
    return round(value.timestamp(), 3)


def _stray(value: Any) -> Any:
    """The encoder's ``default``: a blob or a timestamp, wherever it sits (nothing else in a
    response is beyond JSON)."""
    if isinstance(value, datetime):
        return _epoch_seconds(value)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


#: The standard library's C encoder, made once (``json.JSONEncoder`` makes one per call):
#: compact, as AWS writes its JSON responses; no cycle check (responses are trees of plain
#: values made per call); ASCII-only, as ``json.dumps`` writes. Its ``default`` turns blobs
#: and timestamps into their wire form wherever they sit, which is all a walk of the output
#: shape did: every blob and timestamp member converts to base64 and epoch seconds, and
#: nothing else changes.
_C_ENCODE = c_make_encoder(None, _stray, encode_basestring_ascii, None, ":", ",", False,
                           False, True) if c_make_encoder is not None else None


def to_json(shape: Shape | None, value: Any) -> bytes:
    """A response body in the JSON protocol: ``value`` without the top-level
    ``ResponseMetadata`` (the SDK's own record of the response, never on the wire); ``{}``
    for an operation without output (``shape`` None). The shape is not needed: see the
    module docstring."""
    if isinstance(value, dict):
        if "ResponseMetadata" in value:
            value = {k: v for k, v in value.items() if k != "ResponseMetadata"}
    elif value is None:
        value = {}
    if _C_ENCODE is not None:
        return "".join(_C_ENCODE(value, 0)).encode()
    return json.dumps(value, default=_stray, separators=(",", ":")).encode()
